"""The calling order: who a counter calls next, and who is ahead of whom. Its one home.

`Engine.call_next` (SQL), the people-ahead count (SQL) and the wait estimate's replay (Python) are all built
from the `CallingOrder` below, so the number printed on a ticket, its estimate and the citizen really
called next cannot disagree.

**The order at one counter** (a *seat*: the counter, the services it serves in order of preference, and
whether a priority call is due there) compares two waiting tickets it may call (its transferred-to tickets,
or untargeted tickets of its services) by this key, smallest first:

1. *aging*: a ticket that has waited `aging_min` or longer goes before every other, the oldest first (then
   by id): nobody waits forever;
2. then, for the others, each term of `TERMS` in turn:
   - *class*: priority first when a priority call is due (always under the strict policy; under the
     interleaved policy after `interleave_every` normal calls at that counter), normal first otherwise;
   - *source*: tickets transferred to this counter, then the counter's services in its order of preference;
3. then arrival: `queue_at` (a transfer that keeps its place keeps its old one), then id.

**People ahead** of a waiting ticket T, at this moment, are the waiting tickets U that every counter able to
call T would call before T, whatever its turn in the interleaving: U < T by the key above at every such
seat with a priority call due and (interleaved policy) not due. The counters able to call T are its target
counter if it was transferred to one; otherwise the staffed counters (open or paused) serving its service,
or, when none is staffed (before opening), every counter that lists it. So the count never includes a
ticket that might be called after T (a counter's other services, the other class under interleaving), and
every ticket it counts is called before T if the queue were served now without newcomers; the wait
estimate is what adds the rest (other counters' preferences, the interleaving, newcomers). With one
counter per service it is simply the earlier tickets of the service and, under the strict policy, its
priority tickets.

The SQL count is exact because each term ties two tickets at every seat or at none (a tie never depends on
the counter), so "U < T at every seat" is the lexicographic order of "before at every seat" and "tied".
**Bookings** (the fair merge, issue 17) are the last term, *booked*: a booked ticket's `queue_at` is its slot
time less `lead_min`, so it is called as if it had arrived then (center/queue/bookings.py opens bookable places
only in slots where that lets it be called soon after its slot: `busy_factor`); but at a seat where a *walk-in
call is due* (bookings had more than `max_booked_share` of the counter's last `RECENT_CALLS` calls, counting
the one to come, while a walk-in it may call has waited longer than `walkin_wait_min`), walk-ins go first.
Its ties depend on the seat (at a seat with no walk-in call due every ticket ties), which is why it comes
last: for the last term, "U before T at every seat" is "strictly before at every seat, or not after at any
seat and earlier" (`tie_sql` renders "not after at any seat"), exact because the arrival after it is the
same at every seat. People ahead are counted over both turns, like the priority turn. The replay's lines
are also kept per booked-ness (`estimate._Lines`), so each stays in this order; `queue_counts` does not know
bookings: a newcomer's count removes the booked tickets of its lines that are not ahead of it
(center/queue/waits.py).

Issuing counts people ahead of a ticket that is last in every line, from `queue_counts` (waiting per
service, target and class, kept by triggers): the cost does not grow with the queue.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol

STAFFED = ("open", "paused")
RECENT_CALLS = 10  # the fair merge's window: bookings' share of a counter's last calls


@dataclass(frozen=True)
class Seat:
    """One counter's side of the order: who it is, what it serves (in order of preference), whether a
    priority call is due there."""

    ident: Any  # counter id (engine) or index (replay): compared with a ticket's target_counter
    services: tuple[str, ...]
    priority_due: bool
    walkin_due: bool = False  # the fair merge: walk-ins before bookings at this counter now
    rank: dict[str, int] = field(init=False, compare=False, hash=False, repr=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "rank", {s: i for i, s in enumerate(self.services)})

    def can_call(self, service: str, target: Any) -> bool:
        return target == self.ident if target is not None else service in self.rank


class Ticketlike(Protocol):
    service: str
    priority: bool
    target_counter: Any
    booked: bool


@dataclass(frozen=True)
class Cols:
    """How a table names what the order looks at: `tickets` row by row, `queue_counts` by group."""

    service: str = "service"
    target: str = "target_counter"  # counter id, or the untargeted value below (compared with IS: never NULL)
    untargeted: str = "target_counter IS NULL"
    prio: str = "(priority IS NOT NULL)"  # 1 for a priority ticket, else 0
    booked: str | None = "(booking IS NOT NULL)"  # None: the table does not tell (queue_counts)


TICKETS = Cols()
COUNTS = Cols(service="q.service", target="q.target", untargeted="q.target = ''", prio="q.prio",
              booked=None)  # queue_counts q


@dataclass(frozen=True)
class Me:
    """The ticket whose people ahead are counted."""

    id: int
    service: str
    priority: bool
    target_counter: Any
    queue_at: str
    booked: bool = False


Sql = tuple[str, list[Any]]


class ClassTerm:
    """Priority or normal first, as the seat's turn says."""

    def key(self, seat: Seat, t: Ticketlike) -> int:
        return 0 if t.priority == seat.priority_due else 1

    def order_sql(self, seat: Seat, c: Cols) -> Sql:
        return f"CASE WHEN {c.prio} = ? THEN 0 ELSE 1 END", [int(seat.priority_due)]

    def before_sql(self, me: Me, seats: Sequence[Seat], c: Cols) -> Sql:
        dues = {s.priority_due for s in seats}
        if len(dues) != 1 or me.priority == dues.pop():  # the turn decides, or me is of the class due
            return "0", []
        return f"{c.prio} = ?", [int(not me.priority)]

    def tie_sql(self, me: Me, seats: Sequence[Seat], c: Cols) -> Sql:
        return f"{c.prio} = ?", [int(me.priority)]


class SourceTerm:
    """Tickets transferred to the counter, then its services in order of preference."""

    def key(self, seat: Seat, t: Ticketlike) -> int:
        return -1 if t.target_counter is not None else seat.rank[t.service]

    def order_sql(self, seat: Seat, c: Cols) -> Sql:
        ranks = " ".join("WHEN ? THEN ?" for _ in seat.services)
        params: list[Any] = [seat.ident]
        for i, s in enumerate(seat.services):
            params += [s, i]
        return f"CASE WHEN {c.target} = ? THEN -1 ELSE CASE {c.service} {ranks} END END", params

    def before_sql(self, me: Me, seats: Sequence[Seat], c: Cols) -> Sql:
        if me.target_counter is not None:
            return "0", []  # nothing ranks above a counter's own transferred tickets
        mine = [s.rank[me.service] for s in seats]
        higher = [sv for sv in common_services(seats)
                  if all(s.rank[sv] < r for s, r in zip(seats, mine, strict=True))]
        return services_or_sole_target(higher, seats, c)

    def tie_sql(self, me: Me, seats: Sequence[Seat], c: Cols) -> Sql:
        if me.target_counter is not None:
            return f"{c.target} IS ?", [me.target_counter]
        return f"({c.untargeted} AND {c.service} = ?)", [me.service]


class BookedTerm:
    """Walk-ins before bookings at a seat where a walk-in call is due; elsewhere a tie (arrival decides). Its
    ties depend on the seat, so it is the last term and `tie_sql` renders "not after U at any seat"."""

    def key(self, seat: Seat, t: Ticketlike) -> int:
        return int(t.booked) if seat.walkin_due else 0

    def order_sql(self, seat: Seat, c: Cols) -> Sql:
        return (c.booked or "0", []) if seat.walkin_due else ("0", [])

    def before_sql(self, me: Me, seats: Sequence[Seat], c: Cols) -> Sql:
        if me.booked and c.booked and all(s.walkin_due for s in seats):
            return f"NOT {c.booked}", []
        return "0", []

    def tie_sql(self, me: Me, seats: Sequence[Seat], c: Cols) -> Sql:
        if not me.booked and any(s.walkin_due for s in seats) and c.booked:
            return f"NOT {c.booked}", []
        return "1", []  # (queue_counts: the caller removes the booked tickets of these lines)


TERMS: tuple[ClassTerm | SourceTerm | BookedTerm, ...] = (ClassTerm(), SourceTerm(), BookedTerm())


def common_services(seats: Sequence[Seat]) -> list[str]:
    """Services every seat serves (in the first seat's order)."""
    return [sv for sv in seats[0].services if all(sv in s.rank for s in seats)]


def sole_counter(seats: Sequence[Seat]) -> Any:
    """The counter, when every seat is the same counter (then its transferred tickets are callable by all)."""
    idents = {s.ident for s in seats}
    return idents.pop() if len(idents) == 1 else None


def services_or_sole_target(services: Sequence[str], seats: Sequence[Seat], c: Cols) -> Sql:
    """SQL true for an untargeted ticket of one of `services`, or one transferred to the only able counter."""
    parts, params = [], []
    if services:
        parts.append(f"({c.untargeted} AND {c.service} IN ({','.join('?' * len(services))}))")
        params += list(services)
    target = sole_counter(seats)
    if target is not None:
        parts.append(f"{c.target} IS ?")
        params.append(target)
    return (f"({' OR '.join(parts)})" if parts else "0"), params


@dataclass(frozen=True)
class CallingOrder:
    strict: bool
    interleave_every: int
    aging_s: float
    fair: bool = False  # bookings are merged fairly (config [booking] enabled, a share below 1)
    booked_share: float = 1.0  # max_booked_share
    walkin_wait_s: float = 1e12  # walkin_wait_min

    @classmethod
    def from_rules(cls, rules: Any, booking: Any = None) -> CallingOrder:
        fair = booking is not None and booking.enabled and booking.max_booked_share < 1
        return cls(rules.priority_policy == "strict", rules.interleave_every, rules.aging_min * 60, fair,
                   booking.max_booked_share if fair else 1.0, booking.walkin_wait_min * 60 if fair else 1e12)

    # ------------------------------------------------------------ one counter

    def priority_due(self, normal_since_priority: int) -> bool:
        return self.strict or normal_since_priority >= self.interleave_every

    def after_call(self, normal_since_priority: int, priority: bool) -> int:
        """A counter's count of normal calls since its last priority call, after one more call."""
        return 0 if priority else normal_since_priority + 1

    def seat(self, ident: Any, services: Sequence[str], normal_since_priority: int, walkin_due: bool = False) -> Seat:
        return Seat(ident, tuple(services), self.priority_due(normal_since_priority), walkin_due)

    def walkin_due(self, recent_booked: Sequence[bool], longest_walkin_wait_s: float | None) -> bool:
        """Whether walk-ins go first at a counter now: one more booked call would give bookings more than
        `booked_share` of its last RECENT_CALLS calls (`recent_booked`: its last calls, newest last), while a
        walk-in it may call has waited longer than `walkin_wait_s`."""
        if not self.fair or longest_walkin_wait_s is None or longest_walkin_wait_s <= self.walkin_wait_s:
            return False
        last = list(recent_booked)[-(RECENT_CALLS - 1):]
        return sum(last) + 1 > self.booked_share * RECENT_CALLS

    def key(self, seat: Seat, t: Ticketlike, waited_s: float, arrival: Any) -> tuple:
        """The Python key (the replay): `arrival` orders like (queue_at, id)."""
        if waited_s >= self.aging_s:
            return (0, -waited_s, arrival)
        return (1, *(term.key(seat, t) for term in TERMS), arrival)

    def callable_sql(self, seat: Seat, c: Cols = TICKETS) -> Sql:
        return (f"({c.target} = ? OR ({c.untargeted} AND {c.service} IN ({','.join('?' * len(seat.services))})))",
                [seat.ident, *seat.services])

    def order_sql(self, seat: Seat, aged_before: str) -> Sql:
        """ORDER BY for the `tickets` rows a seat may call; `aged_before`: queue_at at or before it is aged."""
        aged = "queue_at <= ?"
        parts, params = [f"CASE WHEN {aged} THEN 0 ELSE 1 END", f"CASE WHEN {aged} THEN queue_at END"], \
            [aged_before, aged_before]
        for term in TERMS:
            sql, p = term.order_sql(seat, TICKETS)
            parts.append(f"CASE WHEN {aged} THEN 0 ELSE {sql} END")
            params += [aged_before, *p]
        return ", ".join(parts + ["queue_at", "id"]), params

    # ------------------------------------------------------------ people ahead

    def able(self, me: Ticketlike, counters: Iterable[tuple[Any, Sequence[str], str, int]]) -> list[Seat]:
        """The seats (counter × possible turn) whose order decides who is ahead of `me`. `counters`:
        (ident, services in order, status, normal calls since the last priority call)."""
        counters = list(counters)
        if me.target_counter is not None:
            found = [(i, sv) for i, sv, _st, _n in counters if i == me.target_counter]
            chosen = found or [(me.target_counter, ())]
        else:
            serving = [(i, sv, st) for i, sv, st, _n in counters if me.service in sv]
            chosen = [(i, sv) for i, sv, st in serving if st in STAFFED] or [(i, sv) for i, sv, _st in serving]
        if not chosen:  # nobody serves it: only its own line is ahead
            chosen = [(None, (me.service,))]
        turns = (True,) if self.strict else (True, False)
        walkins = (True, False) if self.fair else (False,)
        return [Seat(i, tuple(sv), due, w) for i, sv in chosen for due in turns for w in walkins]

    def _lex(self, me: Me, seats: Sequence[Seat], c: Cols, last: Sql) -> Sql:
        """U before `me` at every seat, the terms compared in order, `last` deciding full ties."""
        sql, params = last
        for term in reversed(TERMS):
            b, bp = term.before_sql(me, seats, c)
            t, tp = term.tie_sql(me, seats, c)
            sql, params = f"({b} OR ({t} AND {sql}))", [*bp, *tp, *params]
        return sql, params

    def _callable_by_all(self, seats: Sequence[Seat], c: Cols) -> Sql:
        return services_or_sole_target(common_services(seats), seats, c)

    def ahead_sql(self, me: Me, seats: Sequence[Seat], aged_before: str) -> Sql:
        """WHERE clause (over waiting `tickets` of the site and day) of the people ahead of `me`."""
        callable_, cp = self._callable_by_all(seats, TICKETS)
        earlier = "(queue_at < ? OR (queue_at = ? AND id < ?))", [me.queue_at, me.queue_at, me.id]
        if me.queue_at <= aged_before:  # me is aged: only older aged tickets
            return f"id != ? AND {callable_} AND {earlier[0]}", [me.id, *cp, *earlier[1]]
        lex, lp = self._lex(me, seats, TICKETS, earlier)
        return (f"id != ? AND {callable_} AND (queue_at <= ? OR {lex})", [me.id, *cp, aged_before, *lp])

    def ahead_of_newcomer_sql(self, me: Me, seats: Sequence[Seat]) -> tuple[Sql, Sql, Sql]:
        """People ahead of a walk-in joining now (last of every line, not aged), as three WHERE clauses over
        `queue_counts` lines: those wholly ahead, the other lines callable by every seat, whose long waiters
        (aging) are ahead too, and the lines ahead only by arrival (tied on every term), whose booked tickets
        may not be (a walk-in call due somewhere, or a slot still to come: queue_counts does not tell)."""
        callable_, cp = self._callable_by_all(seats, COUNTS)
        lex, lp = self._lex(me, seats, COUNTS, ("1", []))
        strict, sp = self._lex(me, seats, COUNTS, ("0", []))
        return ((f"{callable_} AND {lex}", [*cp, *lp]), (f"{callable_} AND NOT {lex}", [*cp, *lp]),
                (f"{callable_} AND {lex} AND NOT {strict}", [*cp, *lp, *sp]))
