"""``python -m fedcore site``: one hospital's side of a deployment, a checked SuperNode.

A site reads its own images and checks its certificates before it joins, so that a wrong
folder or a missing ``ca.pem`` is one line at the hospital instead of a dropped node at the
server; then it runs FedXray's SuperNode (:func:`fedcore.flower.supernode.run`). The images
stay where they are; the site never needs another hospital's files.
"""

from __future__ import annotations

from pathlib import Path

from fedcore.config.data_check import check_site_data
from fedcore.config.run_config import RunConfig
from fedcore.data.site import load_hospital
from fedcore.errors import FedXrayError
from fedcore.flower.certificates import SITE_FILES, certificate_files


def check_site(data: str, name: str | None = None) -> str:
    """Read this hospital's images as a run would; a one-line summary of what it holds.

    Raises
    ------
    FedXrayError
        For a path, layout or content that cannot take part (one line saying what to do).
    """
    path = check_site_data(data)
    hospital, skipped = load_hospital(path, RunConfig().input_size, name)
    counts = hospital.train.class_counts()
    return (
        f"site {hospital.name}: {len(hospital.train)} train "
        f"({', '.join(f'{n} {c}' for c, n in counts.items())}), {len(hospital.val)} val, "
        f"{len(hospital.test)} test images from {path}"
        + (f"; {len(skipped)} unreadable file(s) skipped" if skipped else "")
    )


def supernode_arguments(
    superlink: str,
    certificates: dict,
    data: Path,
    partition_id: int,
    name: str | None,
    auth_key: str | None,
) -> list[str]:
    """``flower-supernode``'s arguments for this site."""
    node_config = f'partition-id={partition_id} data-path="{data}"'
    if name:
        node_config += f' hospital="{name}"'
    arguments = ["--superlink", superlink, "--node-config", node_config]
    if certificates:
        arguments += ["--root-certificates", str(certificates["ca.pem"])]
    else:
        arguments.append("--insecure")
    if auth_key:
        if not Path(auth_key).is_file():
            raise FedXrayError(
                f"no private key at {auth_key}: make one with ssh-keygen -t ecdsa -b 384 and "
                "have the server register its .pub (docs/flower.md)"
            )
        arguments += ["--auth-supernode-private-key", auth_key]
    return arguments


def site(
    data: str,
    superlink: str,
    certificates: str | None,
    partition_id: int,
    name: str | None,
    auth_key: str | None,
    runtime_port: int,
) -> None:
    """Check this hospital's data and certificates, say so, then run its SuperNode until it
    stops."""
    from fedcore.flower import supernode

    host, _, port = superlink.rpartition(":")
    if not host or not port.isdigit():
        raise FedXrayError(
            f"--superlink {superlink!r} is not HOST:PORT: give the server's address and port, "
            "e.g. server.example.org:9093"
        )
    files = certificate_files(certificates, SITE_FILES, superlink)
    path = check_site_data(data).resolve()
    arguments = supernode_arguments(superlink, files, path, partition_id, name, auth_key)
    print(check_site(data, name), flush=True)
    print(
        f"joining the SuperLink at {superlink} as partition {partition_id} "
        f"({'TLS, ' + str(files['ca.pem']) if files else 'plain text, loopback only'}); "
        "the images stay here",
        flush=True,
    )
    supernode.run(arguments, port=runtime_port)
