"""The table `make faults` prints, and the verdict: every request answered within 5 s, no caller
left without a route, every call registered complete and once."""

from __future__ import annotations

from dataclasses import dataclass

from faults.callers import Call
from faults.rows import Rows

BUDGET_SECONDS = 5.0


@dataclass
class Outcome:
    fault: str
    calls: list[Call]
    rows: Rows

    @property
    def requests(self) -> int:
        return sum(len(c.answers) for c in self.calls)

    @property
    def answered(self) -> int:
        """Answered (HTTP 200) within the budget."""
        return sum(
            1
            for c in self.calls
            for a in c.answers
            if a.status == 200 and a.seconds <= BUDGET_SECONDS
        )

    @property
    def slowest(self) -> float:
        return max((a.seconds for c in self.calls for a in c.answers), default=0.0)

    @property
    def without_route(self) -> int:
        """Calls in which a caller on the line got no route (an error, an empty answer, none)."""
        return sum(1 for c in self.calls if any(a.live and not a.routed for a in c.answers))

    @property
    def safe_routes(self) -> int:
        """Calls that got the safe route at some step (the fault was felt)."""
        return sum(1 for c in self.calls if any(a.safe_route for a in c.answers))

    @property
    def ok(self) -> bool:
        return (
            bool(self.calls)
            and self.answered == self.requests
            and not self.without_route
            and self.rows.ok
        )


HEADER = (
    "fault",
    "calls",
    "answered",
    "slowest",
    "safe route",
    "no route",
    "rows exp/written/complete",
    "doubled",
    "",
)


def table(outcomes: list[Outcome]) -> str:
    lines = [HEADER]
    for o in outcomes:
        r = o.rows
        lines.append(
            (
                o.fault,
                str(len(o.calls)),
                f"{o.answered}/{o.requests}",
                f"{o.slowest:.2f} s",
                str(o.safe_routes),
                str(o.without_route),
                f"{r.expected}/{r.written}/{r.complete}",
                str(r.doubled),
                "ok" if o.ok else "FAILED",
            )
        )
    widths = [max(len(line[i]) for line in lines) for i in range(len(HEADER))]
    rendered = [
        "  ".join(
            cell.ljust(w) if i == 0 else cell.rjust(w)
            for i, (cell, w) in enumerate(zip(line, widths, strict=True))
        )
        for line in lines
    ]
    rendered.insert(1, "-" * len(rendered[0]))
    return "\n".join(line.rstrip() for line in rendered)


def verdict(outcomes: list[Outcome]) -> str:
    failed = [o.fault for o in outcomes if not o.ok]
    if not failed:
        return (
            f"faults: every request answered within {BUDGET_SECONDS:.0f} s, no caller without "
            "a route, every call registered complete and once"
        )
    return "faults: FAILED under " + ", ".join(failed)
