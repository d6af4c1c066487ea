"""Web front ends: thin layers over ``chatbot.bot.Bot``."""
