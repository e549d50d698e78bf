"""What the center and the province hub must mean the same way, written once for both (issue 25, the first piece
of the contract of issue 27): imports nothing of the center but `errors`, so every layer and the hub may use it."""
