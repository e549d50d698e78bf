"""What leaves the center as paper or sound: kiosk print jobs, the font browsers and tickets share, and the
Vietnamese call announcements."""
