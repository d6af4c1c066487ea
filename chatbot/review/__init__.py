"""The review store and the loop back from staff: the log, verdicts, exclusions, reviewed
answers, reports, redaction, passwords, and the guard that keeps answering independent of it."""
