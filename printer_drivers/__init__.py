"""Queue tickets on paper: rendering (Pillow, Noto Sans), ESC/POS drivers with a hard deadline, and the print
agent of a kiosk PC. Imports nothing of the server, so the agent installs alone (agent-package/)."""
