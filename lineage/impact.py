"""Schema-change impact analysis: is a proposed schema compatible, what changes, and whom does it break?

Two halves. The pure half (`affected_consumers`, `consumer_verdict`, `ImpactReport`) works on plain data and a
`LineageGraph`, so the benchmark runs it on a synthetic graph. `analyze_impact` gathers its inputs from the
registry (compatibility under the subject's level, the field diff against the latest version, each consumer's
own reader schema) and the catalog (topics, declared reader versions and read fields, owning teams) and writes
nothing.

Verdicts
========
A **direct** consumer reads the changed topic itself (depth 1). Its verdict:

- ``breaks``: its declared reader schema version cannot read data written with the new schema (the format's
  reader/writer check), or a field it declares it reads is removed, renamed, changes type or stops being
  required;
- ``safe``: it declares a reader version that reads the new schema and/or read fields, and none of them is hit;
- ``unknown``: it declares neither (or its declared reader version does not exist), or it is a consumer group
  that no catalog service owns.

A **transitive** consumer (depth 2 and more) reads topics that the direct consumers produce. It never reads the
new schema, so it cannot break on it directly; it is ``unknown`` (indirectly at risk) when a direct consumer
upstream of it breaks or is unknown, because that consumer may stop or change what it produces, and ``safe``
when every direct consumer upstream of it is safe.

Depth counts consumer hops: 1 reads the changed topic, 2 reads a topic a depth-1 consumer produces, and so on.
"""

from __future__ import annotations

import json
from collections import deque
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import asdict, dataclass, field
from typing import Any, Protocol

from lineage.graph import LineageGraph, Node, NodeId

__all__ = [
    "BREAKS",
    "SAFE",
    "UNKNOWN",
    "VERDICTS",
    "AffectedConsumer",
    "ConsumerRef",
    "ImpactInputError",
    "ImpactNotFoundError",
    "ImpactReport",
    "ReaderDeclaration",
    "WalkableGraph",
    "affected_consumers",
    "analyze_impact",
    "consumer_verdict",
    "reachable_consumers",
]

BREAKS = "breaks"
SAFE = "safe"
UNKNOWN = "unknown"
VERDICTS = (BREAKS, UNKNOWN, SAFE)  # worst first: the order of the report's table

# Field changes that break a consumer reading that field. Added fields and doc changes never do; a changed
# default only matters to a reader that lacks the field, and the reader check covers that.
READER_BREAKING_KINDS = ("removed", "renamed", "type changed", "required changed")

_MARK = {BREAKS: "❌", UNKNOWN: "❔", SAFE: "✅"}
# A pull-request comment has a size limit (GitHub: 65,536 characters): the Markdown table lists the worst
# consumers first and stops here; the JSON report lists every one.
MARKDOWN_MAX_CONSUMERS = 50
MARKDOWN_MAX_CHANGES = 100


class ImpactInputError(ValueError):
    """The request cannot be analysed as given (bad schema text, ambiguous topic, ...): a 400 / exit 2."""

    def __init__(self, message: str, *, field: str = "non_field_errors", code: str = "invalid"):
        super().__init__(message)
        self.message = message
        self.field = field
        self.code = code


class ImpactNotFoundError(LookupError):
    """The subject or topic is unknown: a 404 / exit 2."""

    def __init__(self, message: str):
        super().__init__(message)
        self.message = message


# ---------------------------------------------------------------------------------------------
# Plain data
# ---------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class FieldChangeRow:
    """A `schemas.diff.FieldChange` as the report carries it."""

    kind: str
    path: str
    old: str | None = None
    new: str | None = None
    old_path: str | None = None
    reason: str = ""

    @classmethod
    def of(cls, change: Any) -> FieldChangeRow:
        return cls(change.kind, change.path, change.old, change.new, change.old_path, change.reason)


@dataclass(frozen=True)
class ReaderDeclaration:
    """What a consumer declares it reads, with the outcome of checking its reader schema against the new one.

    `reader_problems` is None when no reader version is declared (or it could not be loaded: `reader_error`),
    else the reasons its reader schema cannot read the new schema's data (empty: it can).
    """

    reader_version: int | None = None
    reads_fields: tuple[str, ...] = ()
    reader_problems: tuple[str, ...] | None = None
    reader_error: str = ""

    @property
    def declares_anything(self) -> bool:
        return self.reader_version is not None or bool(self.reads_fields)


@dataclass(slots=True)
class ConsumerRef:
    """One consumer the graph finds: a service (possibly via a group), or a group no service owns.

    `upstream` names the consumers in the walk that produce a topic it reads (beyond the changed topics).
    """

    node: NodeId  # the service node, or the group node when no service owns the group
    service: str | None
    group: str | None
    topic: str  # the topic label (name) it consumes on the way
    topic_node: NodeId
    depth: int  # consumer hops: 1 reads the changed topic
    graph_depth: int  # edges from the changed topic in the lineage graph
    via: str | None = None  # for a transitive consumer: the direct consumer it is downstream of
    url: str | None = None  # the consumer's catalog page
    upstream: tuple[str, ...] = ()


@dataclass(frozen=True)
class AffectedConsumer:
    service: str | None
    team: str | None
    contact: str | None
    group: str | None
    topic: str
    depth: int
    graph_depth: int
    direct: bool
    verdict: str
    reasons: tuple[str, ...]
    reader_version: int | None = None
    reads_fields: tuple[str, ...] = ()
    fields_hit: tuple[str, ...] = ()
    via: str | None = None
    url: str | None = None
    cluster: str | None = None  # the cluster of the topic it consumes: same-named groups on two clusters differ


def _cluster_of(topic_node: NodeId) -> str | None:
    """The cluster name of a "topic:<cluster>/<name>" node id."""
    kind, _, rest = topic_node.partition(":")
    return (rest.partition("/")[0] or None) if kind == "topic" else None


@dataclass
class ImpactReport:
    subject: str
    schema_type: str
    level: str
    compatible: bool
    checked_versions: list[int]
    compatibility_messages: list[str]
    latest_version: int | None
    changes: list[FieldChangeRow]
    topics: list[str]
    consumers: list[AffectedConsumer]
    existing_version: int | None = None
    diff_error: str = ""
    notes: list[str] = field(default_factory=list)
    # Schema policy violations (governance.policies) as dicts: rule, severity, message, path.
    policy_violations: list[dict[str, Any]] = field(default_factory=list)
    # Mirrored subjects: who gave the compatibility verdict, and why there is none (the registry was unreachable).
    compatibility_unknown: str = ""
    compatibility_source: str = ""
    # The registry's verdict as `compatibility_verdict` gave it (schemas.page_selectors.CompatibilityVerdict), for
    # a page that shows it beside the report without asking again (an external registry would hear it twice).
    verdict: Any = field(default=None, repr=False, compare=False)

    # -- verdicts ---------------------------------------------------------------------------------
    @property
    def breaking_consumers(self) -> list[AffectedConsumer]:
        return [consumer for consumer in self.consumers if consumer.verdict == BREAKS]

    @property
    def policy_errors(self) -> list[dict[str, Any]]:
        return [v for v in self.policy_violations if v["severity"] == "error"]

    @property
    def compatibility_verdict(self) -> str:
        if self.compatibility_unknown:
            return UNKNOWN
        return "compatible" if self.compatible else "incompatible"

    @property
    def breaking(self) -> bool:
        """What a CI pipeline fails on: the registry would refuse it (incompatible, or a policy error), or a
        consumer breaks."""
        known_incompatible = not self.compatible and not self.compatibility_unknown
        return known_incompatible or bool(self.policy_errors) or bool(self.breaking_consumers)

    @property
    def counts(self) -> dict[str, int]:
        return {verdict: sum(1 for c in self.consumers if c.verdict == verdict) for verdict in VERDICTS}

    def summary(self) -> str:
        """One line: the compatibility verdict and the consumers per verdict."""
        if self.existing_version is not None:
            compat = f"already registered as v{self.existing_version}"
        elif self.compatibility_unknown:
            compat = f"compatibility under {self.level} unknown ({self.compatibility_source} could not be asked)"
        elif self.compatible:
            compat = f"compatible under {self.level}"
        else:
            compat = f"incompatible under {self.level}"
        counts = self.counts
        direct = sum(1 for c in self.consumers if c.direct)
        consumers = (
            f"{len(self.consumers)} consumer(s) ({direct} direct): "
            f"{counts[BREAKS]} break, {counts[UNKNOWN]} unknown, {counts[SAFE]} safe"
            if self.consumers
            else "no consumers found"
        )
        return f"{compat}; {consumers}"

    # -- output -----------------------------------------------------------------------------------
    def as_dict(self) -> dict[str, Any]:
        return {
            "subject": self.subject,
            "schemaType": self.schema_type,
            "breaking": self.breaking,
            "summary": self.summary(),
            "compatibility": {
                "level": self.level,
                "compatible": None if self.compatibility_unknown else self.compatible,
                "verdict": self.compatibility_verdict,
                "unknownReason": self.compatibility_unknown,
                "source": self.compatibility_source or None,
                "checkedVersions": list(self.checked_versions),
                "existingVersion": self.existing_version,
                "messages": list(self.compatibility_messages),
            },
            "policies": {"passes": not self.policy_errors, "violations": list(self.policy_violations)},
            "latestVersion": self.latest_version,
            "changes": [asdict(change) for change in self.changes],
            "diffError": self.diff_error,
            "topics": list(self.topics),
            "counts": self.counts,
            "consumers": [
                {
                    "service": c.service,
                    "team": c.team,
                    "contact": c.contact,
                    "group": c.group,
                    "topic": c.topic,
                    "cluster": c.cluster,
                    "depth": c.depth,
                    "graphDepth": c.graph_depth,
                    "direct": c.direct,
                    "via": c.via,
                    "verdict": c.verdict,
                    "reasons": list(c.reasons),
                    "readerVersion": c.reader_version,
                    "readsFields": list(c.reads_fields),
                    "fieldsHit": list(c.fields_hit),
                }
                for c in self.consumers
            ],
            "notes": list(self.notes),
        }

    def to_json(self, *, indent: int | None = 2) -> str:
        return json.dumps(self.as_dict(), indent=indent, ensure_ascii=False)

    def to_markdown(self) -> str:
        """The report as a pull-request comment: summary line, verdict table, field changes, messages."""
        mark = "❌" if self.breaking else "✅"
        lines = [f"### {mark} Schema impact: `{self.subject}` ({self.schema_type})", "", f"**{self.summary()}**", ""]
        if self.existing_version is not None:
            lines.append(f"This schema is already registered as version {self.existing_version}; nothing would change.")
        elif self.compatibility_unknown:
            lines.append(f"Compatibility: ❔ unknown under {self.level}: {_cell(self.compatibility_unknown)}")
        elif self.compatible:
            checked = ", ".join(f"v{v}" for v in self.checked_versions)
            lines.append(
                f"Compatibility: ✅ {self.level}"
                + (f", checked against {checked}." if checked else " checks nothing here.")
            )
        else:
            lines.append(f"Compatibility: ❌ the registry would refuse this schema under {self.level}.")
        if self.policy_violations:
            worst = "❌" if self.policy_errors else "⚠️"
            lines.append(
                f"Schema policies: {worst} "
                + "; ".join(f"{v['severity']} `{v['rule']}`: {_cell(v['message'])}" for v in self.policy_violations)
            )
        else:
            lines.append("Schema policies: ✅ no violation.")
        if self.topics:
            lines.append("Topics: " + ", ".join(f"`{topic}`" for topic in self.topics))
        lines.append("")

        if self.consumers:
            # Several clusters: a topic (and a group) is named with its cluster, as the same name may be on each.
            several_clusters = len({c.cluster for c in self.consumers}) > 1
            lines += [
                "| | Consumer | Team | Contact | Group | Topic | Depth | Why |",
                "|---|---|---|---|---|---|---|---|",
            ]
            for c in self.consumers[:MARKDOWN_MAX_CONSUMERS]:
                kind = "direct" if c.direct else f"via {c.via}" if c.via else "transitive"
                lines.append(
                    "| "
                    + " | ".join(
                        [
                            f"{_MARK[c.verdict]} {c.verdict}",
                            f"**{_cell(c.service)}**" if c.service else "_no service_",
                            _cell(c.team),
                            _cell(c.contact),
                            f"`{_cell(c.group)}`" if c.group else "—",
                            f"`{_cell(f'{c.cluster}/{c.topic}' if several_clusters else c.topic)}`",
                            f"{c.depth} ({kind})",
                            _cell("; ".join(c.reasons)),
                        ]
                    )
                    + " |"
                )
            hidden = self.consumers[MARKDOWN_MAX_CONSUMERS:]
            if hidden:
                counts = {verdict: sum(1 for c in hidden if c.verdict == verdict) for verdict in VERDICTS}
                lines.append(
                    f"\n…and {len(hidden)} more consumer(s) not shown ({counts[BREAKS]} break, {counts[UNKNOWN]} "
                    f"unknown, {counts[SAFE]} safe); the JSON report lists every one."
                )
        else:
            lines.append("No consumers of this subject's topics are known to the lineage graph.")
        lines.append("")

        base = f"v{self.latest_version}" if self.latest_version is not None else "the latest version"
        if self.diff_error:
            lines.append(f"Field changes against {base}: could not be computed ({_cell(self.diff_error)}).")
        elif self.changes:
            lines += [
                f"<details><summary>Field changes against {base} ({len(self.changes)})</summary>",
                "",
                "| Change | Field | Before | After |",
                "|---|---|---|---|",
            ]
            for change in self.changes[:MARKDOWN_MAX_CHANGES]:
                where = f"`{_cell(change.path)}`" + (f" (from `{_cell(change.old_path)}`)" if change.old_path else "")
                lines.append(
                    f"| {change.kind} | {where} | {_code_or_dash(change.old if not change.old_path else None)} "
                    f"| {_code_or_dash(change.new if not change.old_path else None)} |"
                )
            if len(self.changes) > MARKDOWN_MAX_CHANGES:
                lines.append(f"\n…and {len(self.changes) - MARKDOWN_MAX_CHANGES} more change(s) in the JSON report.")
            lines += ["", "</details>"]
        elif self.latest_version is not None:
            lines.append(f"No field changes against {base}.")
        if self.compatibility_messages:
            lines += ["", "<details><summary>Compatibility messages</summary>", ""]
            lines += [f"- {_cell(message)}" for message in self.compatibility_messages]
            lines += ["", "</details>"]
        if self.notes:
            lines += [""] + [f"> {_cell(note)}" for note in self.notes]
        return "\n".join(lines).rstrip() + "\n"


def _cell(text: str | None) -> str:
    """Text safe inside a Markdown table cell: pipes escaped, one line."""
    if not text:
        return "—"
    return str(text).replace("\\", "\\\\").replace("|", "\\|").replace("\r", " ").replace("\n", " ")


def _code_or_dash(text: str | None) -> str:
    return f"`{_cell(text)}`" if text not in (None, "") else "—"


# ---------------------------------------------------------------------------------------------
# Pure core: verdicts and the consumers a graph reaches
# ---------------------------------------------------------------------------------------------
def _overlaps(read_path: str, change_path: str) -> bool:
    """Whether a read field and a changed field are the same, or one contains the other ("items" / "items[].sku")."""
    if read_path == change_path:
        return True
    shorter, longer = sorted((read_path, change_path), key=len)
    return longer.startswith(shorter) and longer[len(shorter)] in ".[{"


def consumer_verdict(
    declaration: ReaderDeclaration | None, changes: Sequence[FieldChangeRow]
) -> tuple[str, tuple[str, ...], tuple[str, ...]]:
    """(verdict, reasons, fields hit) of a direct consumer, from its declaration and the field changes."""
    if declaration is None or not declaration.declares_anything:
        return UNKNOWN, ("declares no reader schema version and no read fields",), ()
    breaks: list[str] = []
    fine: list[str] = []
    hit: list[str] = []
    version = declaration.reader_version
    if version is not None:
        if declaration.reader_problems is None:
            fine_or_unknown = declaration.reader_error or f"its reader version {version} could not be checked"
            fine.append(fine_or_unknown)
        elif declaration.reader_problems:
            breaks.append(
                f"its reader schema (v{version}) cannot read the new schema's data: "
                + "; ".join(declaration.reader_problems)
            )
        else:
            fine.append(f"its reader schema (v{version}) reads the new schema's data")
    if declaration.reads_fields:
        for read in declaration.reads_fields:
            for change in changes:
                if change.kind not in READER_BREAKING_KINDS:
                    continue
                if change.kind == "required changed" and change.new != "optional":
                    continue  # becoming required never takes a value away from a reader
                changed_path = change.old_path or change.path
                if _overlaps(read, changed_path):
                    hit.append(read)
                    breaks.append(f"reads {read}, which the new schema {_change_words(change, read)}")
                    break
        if not hit:
            fine.append(f"none of the {len(declaration.reads_fields)} field(s) it reads changes")
    if breaks:
        return BREAKS, tuple(breaks), tuple(hit)
    checked = (version is not None and declaration.reader_problems is not None) or bool(declaration.reads_fields)
    return (SAFE if checked else UNKNOWN), tuple(fine), ()


def _change_words(change: FieldChangeRow, read: str) -> str:
    """How a change hits a read field, naming the changed field when it is not the read one (a parent, a child)."""
    where = "" if (change.old_path or change.path) == read else f" ({change.old_path or change.path})"
    if change.kind == "removed":
        return f"removes{where}"
    if change.kind == "renamed":
        return f"renames to {change.path}{where}"
    if change.kind == "type changed":
        return f"changes from {change.old} to {change.new}{where}"
    return f"makes optional{where}"


class WalkableGraph(Protocol):
    """What `reachable_consumers` reads of a graph: a `LineageGraph`, or the database's `DownstreamGraph`."""

    @property
    def nodes(self) -> Iterable[Node]: ...

    def has_node(self, node_id: NodeId) -> bool: ...

    def successors(self, node_id: NodeId) -> list[NodeId]: ...


def reachable_consumers(graph: WalkableGraph, topic_nodes: Iterable[NodeId]) -> list[ConsumerRef]:
    """Every consumer downstream of the topics, nearest first: direct ones (depth 1) and transitive ones.

    A breadth-first walk over the data flow: topic -> group -> service, topic -> service (declared without a
    group), service -> topic (it produces). A direct consumer is listed once per consumer group it reads the
    changed topic with; a transitive one once, at its smallest depth (a service that reads the changed topic
    is direct even when it is also downstream of another consumer). A group no service owns is a consumer of
    its own.
    """
    starts = [node for node in dict.fromkeys(topic_nodes) if graph.has_node(node)]
    # Nodes by id in a plain dict, and each group's readers looked up once: a large graph reaches the same
    # groups from many topics, and the graph's accessors are not free. This walk is the impact benchmark's
    # hot loop.
    nodes: dict[NodeId, Any] = {node.id: node for node in graph.nodes}
    readers_of_group: dict[NodeId, list[tuple[NodeId, str | None, int]]] = {}
    successors = graph.successors

    def group_readers(group: NodeId) -> list[tuple[NodeId, str | None, int]]:
        """(reader, group label, extra graph depth): the group's services, else the group itself."""
        label = nodes[group].label
        owners = [(s, label, 2) for s in successors(group) if nodes[s].kind == "service"]
        return owners or [(group, label, 1)]

    seen_topics: set[NodeId] = set(starts)
    produced_by: dict[NodeId, list[NodeId]] = {}  # service in the walk -> topics it produces
    readers_of: dict[NodeId, list[NodeId]] = {}  # topic reached at depth 2+ -> the consumers reading it
    # (reader, group label, cluster): the same group id on two clusters is two consumers.
    listed_direct: set[tuple[NodeId, str | None, str | None]] = set()
    listed: set[NodeId] = set()  # consumer nodes listed at any depth
    found: list[ConsumerRef] = []
    # (topic node, consumer depth of its readers, graph depth of the topic, the direct consumer upstream)
    queue: deque[tuple[NodeId, int, int, str | None]] = deque((topic, 1, 0, None) for topic in starts)
    while queue:
        topic, depth, topic_depth, via = queue.popleft()
        topic_label = nodes[topic].label
        topic_readers = readers_of.setdefault(topic, []) if depth > 1 else None
        for successor in successors(topic):
            kind = nodes[successor].kind
            if kind == "service":
                readers: list[tuple[NodeId, str | None, int]] = [(successor, None, 1)]
            elif kind == "group":
                readers = readers_of_group.get(successor)  # type: ignore[assignment]
                if readers is None:
                    readers = readers_of_group[successor] = group_readers(successor)
            else:
                continue
            for reader, group, extra in readers:
                if topic_readers is not None:
                    topic_readers.append(reader)
                if depth == 1:
                    direct_key = (reader, group, _cluster_of(topic))
                    if direct_key in listed_direct:
                        continue
                    listed_direct.add(direct_key)
                elif reader in listed:
                    continue
                expand = reader not in listed
                listed.add(reader)
                node = nodes[reader]
                service = node.label if node.kind == "service" else None
                reader_depth = topic_depth + extra
                found.append(
                    ConsumerRef(reader, service, group, topic_label, topic, depth, reader_depth, via, node.url)
                )
                if service is None or not expand:
                    continue
                outputs = produced_by[reader] = []
                for produced in successors(reader):
                    if nodes[produced].kind != "topic":
                        continue
                    outputs.append(produced)
                    if produced not in seen_topics:
                        seen_topics.add(produced)
                        queue.append((produced, depth + 1, reader_depth + 1, via or service))
    # Who feeds each transitive consumer: every consumer in the walk producing a topic it reads (the walk
    # itself only remembers the first path, in `via`).
    upstream: dict[NodeId, set[str]] = {}
    for producer, topics in produced_by.items():
        label = nodes[producer].label
        for produced in topics:
            for reader in readers_of.get(produced, ()):
                if reader != producer:
                    upstream.setdefault(reader, set()).add(label)
    for ref in found:
        ref.upstream = tuple(sorted(upstream.get(ref.node, ())))
    return found


def affected_consumers(
    refs: Sequence[ConsumerRef],
    *,
    changes: Sequence[FieldChangeRow],
    declarations: Mapping[tuple[str | None, str | None], ReaderDeclaration | None],
    teams: Mapping[str, tuple[str | None, str | None]] | None = None,
) -> list[AffectedConsumer]:
    """Verdicts for the consumers `reachable_consumers` found; worst first, then nearest, then by name.

    `declarations` maps (service, group) of a direct consumer to its declaration (a missing key: none);
    `teams` maps a service to (team name, contact).
    """
    teams = teams or {}
    direct_verdicts: dict[str, str] = {}
    rows: list[AffectedConsumer] = []
    for ref in refs:
        if ref.depth != 1:
            continue
        declaration = declarations.get((ref.service, ref.group))
        if declaration is None:
            declaration = declarations.get((ref.service, None))
        if ref.service is None:
            verdict, reasons, hit = UNKNOWN, ("no catalog service owns this consumer group",), ()
        else:
            verdict, reasons, hit = consumer_verdict(declaration, changes)
        worst = direct_verdicts.get(ref.service or ref.node)
        if worst is None or VERDICTS.index(verdict) < VERDICTS.index(worst):
            direct_verdicts[ref.service or ref.node] = verdict
        rows.append(_row(ref, verdict, reasons, hit, declaration, teams))
    # A transitive consumer is at risk when any direct consumer upstream of it breaks (or is unknown): walk
    # from those, over "reads what it produces", naming the nearest one.
    feeds: dict[str, list[str]] = {}
    for ref in refs:
        for producer in ref.upstream:
            feeds.setdefault(producer, []).append(ref.service or ref.node)
    below_breaking = _downstream_of([s for s, v in direct_verdicts.items() if v == BREAKS], feeds)
    below_unknown = _downstream_of([s for s, v in direct_verdicts.items() if v == UNKNOWN], feeds)
    for ref in refs:
        if ref.depth == 1:
            continue
        key = ref.service or ref.node
        if key in below_breaking:
            root = below_breaking[key]
            verdict, reason = UNKNOWN, f"indirect: downstream of {root}, which breaks and may stop or change its output"
        elif key in below_unknown:
            verdict, reason = UNKNOWN, f"indirect: downstream of {below_unknown[key]}, whose verdict is unknown"
        else:
            verdict, reason = SAFE, "indirect: every direct consumer upstream of it is safe"
        rows.append(_row(ref, verdict, (reason,), (), None, teams))
    rows.sort(
        key=lambda row: (not row.direct, VERDICTS.index(row.verdict), row.depth, row.service or "", row.group or "")
    )
    return rows


def _downstream_of(roots: Sequence[str], feeds: Mapping[str, list[str]]) -> dict[str, str]:
    """Every consumer reachable from the roots over `feeds`, with the nearest root (breadth first)."""
    nearest: dict[str, str] = {}
    queue: deque[tuple[str, str]] = deque((root, root) for root in sorted(roots))
    seen = set(roots)
    while queue:
        node, root = queue.popleft()
        for fed in feeds.get(node, ()):
            if fed not in seen:
                seen.add(fed)
                nearest[fed] = root
                queue.append((fed, root))
    return nearest


def _row(
    ref: ConsumerRef,
    verdict: str,
    reasons: tuple[str, ...],
    hit: tuple[str, ...],
    declaration: ReaderDeclaration | None,
    teams: Mapping[str, tuple[str | None, str | None]],
) -> AffectedConsumer:
    team, contact = teams.get(ref.service or "", (None, None))
    return AffectedConsumer(
        service=ref.service,
        team=team,
        contact=contact,
        group=ref.group,
        topic=ref.topic,
        depth=ref.depth,
        graph_depth=ref.graph_depth,
        direct=ref.depth == 1,
        verdict=verdict,
        reasons=reasons,
        reader_version=declaration.reader_version if declaration else None,
        reads_fields=declaration.reads_fields if declaration else (),
        fields_hit=hit,
        via=ref.via,
        url=ref.url,
        cluster=_cluster_of(ref.topic_node),
    )


# ---------------------------------------------------------------------------------------------
# The whole analysis, from the registry and the catalog
# ---------------------------------------------------------------------------------------------
def analyze_impact(
    *,
    subject: str | None = None,
    topic: str | None = None,
    schema_text: Any,
    schema_type: Any = "AVRO",
    references: Any = None,
    graph_builder: Callable[[], LineageGraph] | None = None,
    external_registry: str | None = None,
) -> ImpactReport:
    """The impact of registering `schema_text` under a subject (or a topic's value subject); writes nothing.

    Raises ImpactInputError (bad input: the schema does not parse, neither or both of subject and topic, a
    topic carrying several subjects) and ImpactNotFoundError (unknown subject or topic).

    A subject mirrored from an external registry (`external_registry` names it; else `subject_source` picks it, with a
    registry tied in mode "instead" to a topic's cluster first) is analysed the same way on the mirrored
    versions; its compatibility verdict is the external registry's own (unknown, with the reason, when that
    registry cannot be asked).
    """
    from django.db.models import Q

    from catalog.models import DeclaredRelation, EventType, Topic
    from governance.services import schema_policy_check
    from lineage import selectors as lineage_selectors
    from schemas import diff, formats, page_selectors
    from schemas import selectors as registry
    from schemas.compatibility.levels import reader_incompatibilities
    from schemas.errors import InvalidSchemaError, RegistryError, SubjectNotFoundError, VersionNotFoundError
    from schemas.external import selectors as mirrors

    # -- which subject, which topics ----------------------------------------------------------------
    subject = subject.strip() if isinstance(subject, str) else subject
    topic = topic.strip() if isinstance(topic, str) else topic
    if not subject and not topic:
        raise ImpactInputError("Give a subject or a topic.", field="subject", code="required")
    for name, value in (("subject", subject), ("topic", topic)):
        # PostgreSQL refuses NUL in a query parameter: control characters are bad input, said as such.
        if value and any(ord(char) < 32 or ord(char) == 127 for char in value):
            raise ImpactInputError(f"The {name} must not contain control characters.", field=name)
    topics = Topic.objects.select_related("cluster").order_by("cluster__name", "name")
    if topic:
        matching = list(topics.filter(name=topic))
        if not matching:
            raise ImpactNotFoundError(f"Topic {topic!r} not found in the catalog.")
        if not subject:
            subjects = sorted(
                set(
                    EventType.objects.filter(topic__in=matching)
                    .exclude(schema_subject="")
                    .values_list("schema_subject", flat=True)
                )
            )
            if len(subjects) > 1:
                raise ImpactInputError(
                    f"Topic {topic!r} carries several subjects ({', '.join(subjects)}): give the subject.",
                    field="subject",
                )
            subject = subjects[0] if subjects else f"{topic}-value"  # Confluent's TopicNameStrategy
        topic_rows = matching
    else:
        topic_rows = []
    try:
        registry.validate_subject_name(subject)
        mirror = mirrors.subject_source(
            subject, registry=external_registry, cluster_ids={row.cluster_id for row in topic_rows}
        )
        if mirror is None:
            registry.subject_version_numbers(subject)  # 40401 when it has no live version
        elif not mirrors.mirrored_subject_versions(mirror, subject):
            raise SubjectNotFoundError(subject)
    except SubjectNotFoundError:
        raise ImpactNotFoundError(f"Subject {subject!r} not found in the registry.") from None
    except RegistryError as exc:
        raise ImpactInputError(exc.message, field="subject") from None
    if not topic_rows:
        ids = set(EventType.objects.filter(schema_subject=subject, topic__isnull=False).values_list("topic", flat=True))
        strategy = subject.removesuffix("-value") if subject.endswith("-value") else None
        topic_rows = list(topics.filter(Q(pk__in=ids) | Q(name=strategy or "", deleted_at__isnull=True)))

    # -- the new schema: parse, compatibility, field diff ------------------------------------------
    if mirror is not None:
        # The mirror's versions and ids stand in for our registry's, through the same names as below.
        def prepare_schema(**kwargs: Any) -> Any:
            return mirrors.mirrored_prepare(mirror, **kwargs)

        def parsed_schema_by_id(schema_id: int) -> Any:
            return mirrors.mirrored_parsed_schema(mirror, schema_id)

        def subject_version_get(name: str, version: Any, *, deleted: bool = False) -> Any:
            rows = mirrors.mirrored_subject_versions(mirror, name)
            row = rows[-1] if version == "latest" and rows else next((r for r in rows if r.version == version), None)
            if row is None:
                raise VersionNotFoundError(f"Version {version} not found.")
            return registry.RegisteredVersion(name, row.version, mirrors.mirrored_record(mirror, row.schema_id))
    else:
        prepare_schema, parsed_schema_by_id = registry.prepare_schema, registry.parsed_schema_by_id
        subject_version_get = registry.subject_version_get
    try:
        prepared = prepare_schema(schema_text=schema_text, schema_type=schema_type, references=references)
    except InvalidSchemaError as exc:
        raise ImpactInputError(exc.message, field="schema", code="invalid_schema") from None
    except RegistryError as exc:
        raise ImpactInputError(exc.message, field="schema", code="invalid_schema") from None
    except UnicodeError:
        raise ImpactInputError(
            "Invalid schema: it contains a lone surrogate escape (\\ud800-\\udfff).", field="schema"
        ) from None
    verdict = page_selectors.compatibility_verdict(subject, prepared, mirror=mirror)
    latest = subject_version_get(subject, "latest")
    changes: list[FieldChangeRow] = []
    diff_error = ""
    try:
        found = diff.schema_diff(parsed_schema_by_id(latest.schema.id), prepared.parsed)
        changes = [FieldChangeRow.of(change) for change in found.changes]
    except formats.SchemaParseError as exc:
        diff_error = str(exc)

    # -- the consumers: the lineage graph downstream of the topics --------------------------------
    # Current edges only: a consumer whose evidence went stale (it stopped reading) is not affected any more.
    # Only the part of the graph downstream of the topics is read (the same consumers as on the whole graph,
    # `build_graph(include_stale=False)`, which a `graph_builder` may still give).
    topic_ids = [lineage_selectors.topic_node_id(row) for row in topic_rows]
    if graph_builder is not None:
        graph: WalkableGraph = graph_builder()
        refs = reachable_consumers(graph, topic_ids)
    else:
        graph = lineage_selectors.downstream_graph(topic_rows)
        refs = reachable_consumers(graph, topic_ids)
        urls = lineage_selectors.node_urls(ref.node for ref in refs)
        for ref in refs:
            ref.url = urls[ref.node]
    notes: list[str] = []
    if not topic_rows:
        notes.append(f"No topic in the catalog carries {subject}: consumers cannot be found.")
    elif not any(graph.has_node(node) for node in topic_ids):
        notes.append("The lineage graph has no edges for these topics yet (lineage refreshes after discovery).")

    direct_services = {ref.service for ref in refs if ref.depth == 1 and ref.service}
    relations = (
        DeclaredRelation.objects.filter(
            direction=DeclaredRelation.Direction.CONSUMES, service__name__in=direct_services
        )
        .filter(Q(topic__in=topic_rows) | Q(event_type__topic__in=topic_rows) | Q(event_type__schema_subject=subject))
        .select_related("service", "event_type")
        .order_by("service__name", "pk")
    )
    chosen: dict[str, Any] = {}
    for relation in relations:
        best = chosen.get(relation.service.name)
        if best is None or (relation.declares_reader and not best.declares_reader):
            chosen[relation.service.name] = relation
    reader_checks: dict[int, tuple[tuple[str, ...] | None, str]] = {}
    declarations: dict[tuple[str | None, str | None], ReaderDeclaration | None] = {}
    for service_name, relation in chosen.items():
        version = relation.reader_schema_version
        problems: tuple[str, ...] | None = None
        error = ""
        if version is not None:
            if version not in reader_checks:
                try:
                    row = subject_version_get(subject, version, deleted=True)
                    reader = parsed_schema_by_id(row.schema.id)
                    reader_checks[version] = (
                        tuple(str(p) for p in reader_incompatibilities(reader, prepared.parsed)),
                        "",
                    )
                except (VersionNotFoundError, SubjectNotFoundError):
                    reader_checks[version] = (
                        None,
                        f"its declared reader version {version} of {subject} does not exist",
                    )
            problems, error = reader_checks[version]
        declarations[(service_name, None)] = ReaderDeclaration(
            reader_version=version,
            reads_fields=tuple(relation.reads_fields or ()),
            reader_problems=problems,
            reader_error=error,
        )
    teams = lineage_selectors.service_teams(r.service for r in refs if r.service)
    consumers = affected_consumers(refs, changes=changes, declarations=declarations, teams=teams)
    if mirror is not None:
        notes.insert(0, f"{subject} is mirrored from {mirror.source} (external registry {mirror.name}).")
    return ImpactReport(
        subject=subject,
        schema_type=str(prepared.schema_type),
        level=str(verdict.level),
        compatible=verdict.compatible,
        compatibility_unknown=verdict.unknown_reason,
        compatibility_source=verdict.asked,
        checked_versions=list(verdict.checked_versions),
        compatibility_messages=[str(problem) for problem in verdict.problems],
        latest_version=latest.version,
        changes=changes,
        topics=sorted({row.name for row in topic_rows}),
        consumers=consumers,
        existing_version=verdict.existing_version,
        verdict=verdict,
        diff_error=diff_error,
        notes=notes,
        policy_violations=[
            v.as_dict() for v in schema_policy_check(subject, prepared.parsed, parsed_schema_by_id(latest.schema.id))
        ],
    )
