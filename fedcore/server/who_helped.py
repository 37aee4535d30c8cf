"""Who helped and who was flagged over a whole run, read from its stored rounds' fit facts.

One reading for every place that shows it (the Train legend, the Fairness page, the export, the
log), so they agree. Pure functions over ``snapshot['rounds']`` (fedcore.store).
"""

from __future__ import annotations

from fedcore.server.contribution import contribution_sentence
from fedcore.server.fit_facts import hospitals_only
from fedcore.server.update_geometry import RULES, reason_rules, short_reason


def attackers(snapshot: dict) -> list[str]:
    """The hospitals that sent poisoned updates in a run (its ``attack`` events)."""
    return sorted(
        {
            name
            for e in snapshot["events"]
            if e["kind"] == "attack"
            for name in (e["data"] or {}).get("attackers", [])
        }
    )


def flags_by_hospital(rounds: list[dict]) -> dict[str, list[tuple[int, str]]]:
    """{hospital: [(round, reason), ...]} for every flagged update, in round order."""
    flags: dict[str, list[tuple[int, str]]] = {}
    for row in rounds:
        for name, facts in hospitals_only(row.get("fit") or {}).items():
            if facts.get("flagged"):
                flags.setdefault(name, []).append((row["round"], facts.get("flag_reason", "")))
    return flags


def flag_note(flags: list[tuple[int, str]]) -> str:
    """'(flagged round 4: 9.8x norm)'; over several rounds, how many and the latest reason:
    '(flagged in 9 rounds, last round 10: cosine -0.94)'."""
    if not flags:
        return ""
    last_round, reason = flags[-1]
    short = short_reason(reason)
    if len(flags) == 1:
        return f"(flagged round {last_round}: {short})"
    return f"(flagged in {len(flags)} rounds, last round {last_round}: {short})"


def flag_notes(rounds: list[dict]) -> dict[str, str]:
    """{hospital: :func:`flag_note`} for each hospital flagged at least once."""
    return {name: flag_note(flags) for name, flags in flags_by_hospital(rounds).items()}


def contributions_by_round(rounds: list[dict]) -> dict[str, list[tuple[int, float]]]:
    """Each hospital's leave-one-out contribution (fedcore.server.contribution) in each round that
    scored one, as (round, contribution); empty for a run without contributions."""
    found: dict[str, list[tuple[int, float]]] = {}
    for row in rounds:
        for name, facts in hospitals_only(row.get("fit") or {}).items():
            if "contribution" in facts:
                found.setdefault(name, []).append((row["round"], float(facts["contribution"])))
    return found


def contributions_by_hospital(rounds: list[dict]) -> dict[str, float]:
    """Each hospital's contribution summed over the rounds that scored one."""
    return {
        name: sum(value for _round, value in scored)
        for name, scored in contributions_by_round(rounds).items()
    }


def contribution_sentences(rounds: list[dict]) -> list[str]:
    """One plain sentence per hospital about its summed contribution, the largest first."""
    totals = contributions_by_hospital(rounds)
    scored = sum(
        1
        for row in rounds
        if any("contribution" in f for f in hospitals_only(row.get("fit") or {}).values())
    )
    ranked = sorted(totals.items(), key=lambda item: -item[1])
    return [contribution_sentence(name, value, rounds=scored) for name, value in ranked]


def round_flag_note(fit_info: dict) -> str:
    """The round's log-line ending naming each flagged hospital and why; '' when none was."""
    flagged = [
        f"{name} ({facts.get('flag_reason', '')})"
        for name, facts in hospitals_only(fit_info).items()
        if facts.get("flagged")
    ]
    return f"  | flagged: {', '.join(flagged)}" if flagged else ""


def report_lines(snapshot: dict) -> list[str]:
    """The CLI report's lines on who helped and who was flagged: per hospital, its contribution
    summed over the run (when scored) and how many of its rounds it was flagged in, and why.

    Empty for a run whose rounds recorded neither (centralized and local runs, older runs).
    """
    rounds = snapshot["rounds"]
    taken, dropped = {}, {}
    for row in rounds:
        for name, facts in hospitals_only(row.get("fit") or {}).items():
            if "flagged" in facts or "contribution" in facts:
                taken[name] = taken.get(name, 0) + 1
                dropped[name] = dropped.get(name, 0) + int(bool(facts.get("dropped")))
    if not taken:
        return []
    totals, flags, bad = (
        contributions_by_hospital(rounds),
        flags_by_hospital(rounds),
        attackers(snapshot),
    )
    lines = [
        "Who helped and who was flagged"
        + (
            " (contribution: the global model's validation AUROC with the hospital's update minus "
            "without it, summed over the rounds)"
            if totals
            else " (contribution not scored: --contribution)"
        )
    ]
    for name in sorted(taken, key=lambda n: (len(n), n)):
        words = [f"  {name}" + (" (attacker)" if name in bad else "") + ":"]
        if name in totals:
            words.append(f"contribution {totals[name]:+.3f};")
        words.append(_flag_words(flags.get(name, []), taken[name]))
        # A dropped update has no contribution: the aggregate never held it.
        left_out = f"; left out of the aggregate in {dropped[name]}" if dropped[name] else ""
        lines.append(" ".join(words) + left_out)
    return lines


def _flag_words(flags: list[tuple[int, str]], rounds: int) -> str:
    """'flagged in 9 of 10 rounds (norm 9, image count 9, direction 2); round 10: <reason>'."""
    if not flags:
        return f"never flagged in {rounds} round(s)"
    named = [rule for _round, reason in flags for rule in reason_rules(reason)]
    counted = ", ".join(f"{rule} {named.count(rule)}" for rule in RULES.values() if rule in named)
    last_round, reason = flags[-1]
    return f"flagged in {len(flags)} of {rounds} rounds ({counted}); round {last_round}: {reason}"
