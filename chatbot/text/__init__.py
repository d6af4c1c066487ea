"""Text: sentences and lists with exact spans, one way to fold, locate and overlap."""
