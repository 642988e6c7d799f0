"""Running the feed unattended: its health, alerts when it breaks."""
