"""Each hospital's site in a deployed run, as its server saw it round by round: which rounds it
took part in, where it dropped out and came back, and when it was last heard from.

Read from what the server records (each round's participants and finish time, the
``hospital_dropped`` events), so it works for a live run and a finished one alike; while the
run is live, also from the heartbeat's ``sites`` (fedcore.flower.site_watch): what each site is
doing inside the round (loading its data, training, trained, evaluating, evaluated, no answer,
not connected) since when, and its last answer.
"""

from __future__ import annotations


def site_states(snapshot: dict) -> list[dict]:
    """One row per hospital of the run, in the order of the data summary.

    Returns
    -------
    list of dict
        hospital, state ('taking part', 'dropped in round r', 'back since round r', or 'not
        heard from yet'), rounds (how many it took part in), last_round, last_contact (its last
        answer inside the live round, else the finish time of the last round it took part in,
        seconds since the epoch, or None), now and since (what it is doing inside the live round
        and since when; None when the run is not live or the server has not asked it yet).
    """
    summary = snapshot["run"].get("data_summary") or {}
    names = list(summary.get("hospitals") or {})
    joined: dict[str, list[tuple[int, float | None]]] = {}
    for row in snapshot["rounds"]:
        for name in (row.get("fit") or {}).get("_round", {}).get("participants", []):
            joined.setdefault(name, []).append((row["round"], row.get("finished")))
            if name not in names:
                names.append(name)
    drops: dict[str, list[int]] = {}
    for event in snapshot["events"]:
        if event["kind"] == "hospital_dropped" and (event["data"] or {}).get("hospital"):
            drops.setdefault(event["data"]["hospital"], []).append(event["round"] or 0)
    live = (snapshot["run"].get("progress") or {}).get("sites") or {}
    names += [name for name in live if name not in names]
    rows = [_state(name, joined.get(name, []), drops.get(name, [])) for name in names]
    for row in rows:
        site = live.get(row["hospital"]) or {}
        row["now"], row["since"] = site.get("state"), site.get("since")
        contacts = [c for c in (row["last_contact"], site.get("contact")) if c is not None]
        row["last_contact"] = max(contacts, default=None)
    return rows


def _state(name: str, rounds: list[tuple[int, float | None]], drops: list[int]) -> dict:
    last_round, last_contact = rounds[-1] if rounds else (None, None)
    last_drop = max(drops, default=None)
    if last_drop is not None and (last_round is None or last_drop >= last_round):
        state = f"dropped in round {last_drop}"
    elif last_drop is not None:
        state = f"back since round {min(r for r, _ in rounds if r > last_drop)}"
    elif rounds:
        state = "taking part"
    else:
        state = "not heard from yet"
    return {
        "hospital": name,
        "state": state,
        "rounds": len(rounds),
        "last_round": last_round,
        "last_contact": last_contact,
    }
