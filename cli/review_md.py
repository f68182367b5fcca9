"""``uniform review --format markdown``: the review as a pull-request comment (issue 16, item 4).

Built from the same per-stack results as ``--json`` (cli/review.py): per touched customer the
preview's counts, the policy result, the machines changed and how (cli/machine_diff.py), the
machines added/removed/changed from the preview's steps, the services that will reload and,
folded away, the delivery groups with their files.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

__all__ = ["format_markdown"]

KINDS = ("create", "update", "delete", "replace", "same")


def _code(text: str) -> str:
    quoted = text.replace("`", "'")
    return f"`{quoted}`"


def _counts(counts: Mapping[str, int]) -> str:
    parts = [f"{n} {k}" for k, n in sorted(counts.items()) if n and k != "same"]
    return ", ".join(parts) or "no changes"


def _stack(stack: str, r: Mapping[str, Any], policy: str | None) -> list[str]:
    ok = bool(r.get("ok"))
    counts: dict[str, int] = dict(r.get("counts") or {})
    head = f"### {'✅' if ok else '❌'} {_code(stack)}: "
    head += _counts(counts) if ok else "preview failed"
    if ok and counts.get("same"):
        head += f" ({counts['same']} unchanged)"
    out = [head, ""]
    if policy is None:
        out.append("**Policy:** not checked (`--no-policy`)")
    elif ok:
        out.append(f"**Policy:** passed ({_code(policy)})")
    else:
        out += ["**Preview / policy failed:**", "", "```", *r.get("problems", []), "```"]
    changes: Sequence[str] = r.get("machine_changes") or []
    if changes:
        out += ["", "**Machines changed in the inventory:**", ""]
        out += [
            f"- {_code(c.split(': ', 1)[0])}: {c.split(': ', 1)[1] if ': ' in c else ''}" for c in changes
        ]
    machines = r.get("machines")
    if isinstance(machines, dict):
        added, removed = machines.get("added") or [], machines.get("removed") or []
        changed: dict[str, list[str]] = machines.get("changed") or {}
        rows = [("added", m, "") for m in added] + [("removed", m, "") for m in removed]
        rows += [("changed", m, ", ".join(g)) for m, g in changed.items()]
        if rows:
            out += ["", "| machine | in the preview | delivery groups |", "|---|---|---|"]
            out += [f"| {_code(m)} | {how} | {groups} |" for how, m, groups in rows]
        reloads = [g for g in r.get("reloads") or [] if g.get("group") != "base"]
        svc = ", ".join(f"{g['group']} on {_code(g['machine'])}" for g in reloads)
        out += ["", f"**Services that will reload:** {svc or 'none'}"]
        groups = r.get("reloads") or []
        if groups:
            out += ["", "<details><summary>Delivery groups and files</summary>", ""]
            for g in groups:
                files = [f"+{p}" for p in g.get("added", [])] + [f"~{p}" for p in g.get("changed", [])]
                files += [f"-{p}" for p in g.get("removed", [])]
                out.append(
                    f"- {_code(g['machine'])} {g['group']} [{g['op']}] ({g.get('mode') or '?'} delivery)"
                )
                out += [f"  - {_code(f)}" for f in files] or ["  - no file change"]
                if g.get("mode") == "ssh" and g.get("reload"):
                    out.append(f"  - then: {_code('; '.join(g['reload']))}")
            out += ["", "</details>"]
    return out


def format_markdown(
    results: Mapping[str, Mapping[str, Any]], notes: Sequence[str], policy: str | None
) -> str:
    """The comment: a table of every stack's counts, then a section per stack.

    ``policy``: the policy pack's name as shown (None: previewed without one)."""
    failed = [s for s, r in results.items() if not r.get("ok")]
    lines = ["## uniform review", ""]
    if not results:
        lines.append("No customer is touched by this change.")
    else:
        verdict = (
            f"❌ {len(failed)} of {len(results)} previews failed" if failed else "✅ every preview passed"
        )
        lines += [f"{verdict} ({len(results)} stack(s)).", ""]
        lines.append("| stack | preview | " + " | ".join(KINDS) + " |")
        lines.append("|---|---|" + "---:|" * len(KINDS))
        for s, r in results.items():
            c = r.get("counts") or {}
            cells = " | ".join(str(c.get(k, 0)) for k in KINDS)
            lines.append(f"| {_code(s)} | {'ok' if r.get('ok') else '**failed**'} | {cells} |")
    for s, r in results.items():
        lines += ["", *_stack(s, r, policy)]
    if notes:
        lines += ["", "Notes:", "", *(f"- {n}" for n in notes)]
    return "\n".join(lines) + "\n"
