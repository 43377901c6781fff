"""nanobot's Telegram channel: a bot account served through telethon, run under trio."""
