"""The province hub: what every center sends, on PostgreSQL, and the province's pages (issue 16)."""
