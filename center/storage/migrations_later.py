"""Migrations from 17 on, each in a module of its own (center/storage/migrations.py reached its size limit).
Append to LATER in order; never edit one that has shipped."""

from .migrations_booking import V18_BOOKINGS
from .migrations_sync_held import V19_SYNC_HELD
from .migrations_voice import V17_VOICE_PACKS

LATER: list[str] = [V17_VOICE_PACKS, V18_BOOKINGS, V19_SYNC_HELD]
