"""One diagnosis per independent problem of a run: its root cause, the events it explains, the fix.

`diagnose(events)` walks a run's events in the order a training loop meets them (step, then
stage within the step: data, batch, code, forward, loss, backward). Each warning or error joins
the first diagnosis holding an event that explains it (`rules.RULES`), else it starts a new one:
the root is the earliest cause nothing else explains. Info events never take part; a warning
whose condition ended (a later info event of its kind and tag, evidence "ended", covering its step)
can be a consequence but never a root. Ranks are diagnosed one by one (a NaN on rank 1 is rank 1's
root); the same root kind found on several ranks is one diagnosis (as on one rank: the same fault
again), the other ranks' chains among its consequences.
"""

import dataclasses
from typing import Dict, List, Sequence, Tuple

from tb_lossdiag.diagnosis.phrases import phrase
from tb_lossdiag.diagnosis.rules import explains, inferred_op, position, signature
from tb_lossdiag.events import Event, severity_rank
from tb_lossdiag.events import ended as events_ended  # the name `ended` is a local below

FAILURE_KIND = "diagnostic_failure"  # tb_lossdiag's own failure: about the tool, not the training
CHAIN_LINKS = 4  # consequences named in a summary; the rest are counted
ORIGIN_KIND = "nonfinite_origin"  # where a NaN was born: named in its diagnosis's summary, never a second diagnosis


@dataclasses.dataclass(frozen=True)
class Diagnosis:
    """A root cause, the events it explains, how sure the diagnosis is, and the one fix."""

    root: Event
    consequences: Tuple[Event, ...]
    confidence: str  # "certain": direct evidence (the loss graph, measured tensors); "likely": the curve
    fix: str
    summary: str

    def to_dict(self) -> dict:
        """The JSON form shared by the CLI and the plugin."""
        return {
            "root": self.root.to_dict(),
            "consequences": [e.to_dict() for e in self.consequences],
            "confidence": self.confidence,
            "fix": self.fix,
            "summary": self.summary,
        }


def diagnose(events: Sequence[Event]) -> List[Diagnosis]:
    """The diagnoses of one run's events, most serious first; [] when none is a warning or error.
    Roots and consequences are the very Event objects given (callers index them by identity)."""
    found: List[Tuple[Event, List[Event]]] = []
    for rank in sorted({e.rank for e in events}):
        found.extend(_chains([e for e in events if e.rank == rank]))
    merged = _merge_ranks(found)
    merged.sort(key=lambda chain: (-_severity(chain), chain[0].step, chain[0].rank))
    several_ranks = len({e.rank for e in events}) > 1
    return [_diagnosis(root, consequences, several_ranks) for root, consequences in merged]


def describe(found: Sequence["Diagnosis"]) -> str:
    """What stop_on_error=True raises with: the first diagnosis, then one line per other; "" when none."""
    if not found:
        return ""
    first, others = found[0], found[1:]
    lines = [f"Root cause ({first.confidence}): {first.summary}"]
    lines += [f"Also ({d.confidence}): {d.summary}" for d in others]
    return "\n".join(lines)


class _Chain:
    """A root and the events it explains so far, with what its events explain remembered per
    signature (a rule reads nothing else), so a run of thousands of events stays linear."""

    def __init__(self, root: Event):
        self.root = root
        self.consequences: List[Event] = []
        self._causes = [root]  # the first event of each signature in the chain
        self._signatures = {signature(root)}
        self._verdicts: Dict[tuple, Tuple[bool, int]] = {}  # effect signature -> (explained, causes judged)

    def explains(self, event: Event) -> bool:
        """Whether an event of the chain explains `event` (which comes at or after all of them)."""
        key = signature(event)
        explained, judged = self._verdicts.get(key, (False, 0))
        explained = explained or any(explains(cause, event) for cause in self._causes[judged:])
        self._verdicts[key] = (explained, len(self._causes))
        return explained

    def add(self, event: Event) -> None:
        """Make `event` a consequence."""
        self.consequences.append(event)
        if signature(event) not in self._signatures:
            self._signatures.add(signature(event))
            self._causes.append(event)


def _chains(events: Sequence[Event]) -> List[Tuple[Event, List[Event]]]:
    """(root, consequences) for one rank's events, in order of their roots."""
    ended = events_ended(events)  # warnings whose condition ended: never a root
    flagged = [e for e in events if e.severity != "info" and e.kind != FAILURE_KIND]
    order = sorted(range(len(flagged)), key=lambda i: (position(flagged[i]), i))
    chains: List[_Chain] = []
    for event in (flagged[i] for i in order):
        owner = next((chain for chain in chains if chain.explains(event)), None)
        if owner is not None:
            owner.add(event)
        elif id(event) not in ended:
            chains.append(_Chain(event))
    return [(chain.root, chain.consequences) for chain in chains]


def _merge_ranks(chains: List[Tuple[Event, List[Event]]]) -> List[Tuple[Event, List[Event]]]:
    """One chain per root kind: the earliest root stays, other ranks' chains join its consequences."""
    by_root: Dict[str, Tuple[Event, List[Event]]] = {}
    for root, consequences in sorted(chains, key=lambda c: (c[0].step, c[0].rank)):
        if root.kind in by_root:
            by_root[root.kind][1].extend([root, *consequences])
        else:
            by_root[root.kind] = (root, list(consequences))
    for _, consequences in by_root.values():
        consequences.sort(key=lambda e: (position(e), e.rank))  # stable: one rank's order is kept
    return list(by_root.values())


def _severity(chain: Tuple[Event, List[Event]]) -> int:
    return max(severity_rank(e.severity) for e in (chain[0], *chain[1]))


def _confidence(root: Event) -> str:
    """certain when the root was measured or read off the loss graph; likely when inferred from a
    curve, or from what a NaN loss's graph lacks (evidence `inferred`)."""
    return "likely" if root.category == "curve" or inferred_op(root) or "inferred" in root.evidence else "certain"


def _diagnosis(root: Event, consequences: List[Event], several_ranks: bool) -> Diagnosis:
    # Reminders repeat a link already named; an operand check read off a NaN loss names that loss;
    # the root's kind on other ranks is said by the ranks in front; the NaN's birthplace is named
    # first (a NaN batch's root already names it).
    linked: List[Tuple[bool, str]] = []  # (not the birthplace, phrase)
    seen = {(root.kind, root.tag, root.rank), (root.tag, root.step, root.rank)}
    for event in consequences:
        keys = {(event.kind, event.tag, event.rank), (event.tag, event.step, event.rank)}
        if not seen & keys and (event.kind, event.rank == root.rank) != (root.kind, False) and not _told(root, event):
            text = phrase(event, root=False) + (f" (rank {event.rank})" if event.rank != root.rank else "")
            linked.append((event.kind != ORIGIN_KIND, text))
        seen |= keys
    links = [text for _, text in sorted(linked, key=lambda link: link[0])]  # stable
    chain = [phrase(root)] + links[:CHAIN_LINKS]
    if len(links) > CHAIN_LINKS:
        chain.append(f"{len(links) - CHAIN_LINKS} more")
    fix = root.hint
    ranks = sorted({e.rank for e in (root, *consequences)})
    where = f"rank{'s' * (len(ranks) > 1)} {', '.join(map(str, ranks))}: " if several_ranks else ""
    summary = where + " -> ".join(chain) + f". Fix: {fix}"
    return Diagnosis(root, tuple(consequences), _confidence(root), fix, summary)


def _told(root: Event, event: Event) -> bool:
    """Whether the root already says what `event` says: a NaN batch names where its NaN was born."""
    return root.kind == "nonfinite_input" and event.kind == ORIGIN_KIND and "input" in event.evidence
