"""The queue: tickets and counters as one short write transaction each (engine), what screens read of them
(views, waits), the calling order (policy), the wait estimate, opening hours and the center's clock."""
