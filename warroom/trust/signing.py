"""Signing a sign-off or decision with the user's ssh-agent, and checking one, with `ssh-keygen -Y`.

What is signed binds the launch id, the event's kind, the signing account, its data (with `sig_anchor`,
the "SEQ:HASH" head of the log when it was signed: its place in the chain), so a signature cannot be
replayed into another log or launch, nor under another account. `allowed_signers` (ssh-keygen's ALLOWED
SIGNERS format) says whose key is whose: principals are accounts.

Every call here runs a subprocess with a timeout and turns every failure into a `SigningError` whose
message says what to do; the console calls `sign` in a worker thread so a slow agent never freezes it.
"""

from __future__ import annotations

import os
import subprocess
import tempfile
from pathlib import Path
from typing import Any

import orjson

from warroom.core.authority import SIG_KEY, SigVerdict
from warroom.core.text import clean

NAMESPACE = "warroom-decision@v1"
SIGN_TIMEOUT = 30.0  # a confirm-on-use key (ssh-add -c) or a FIDO key waits for a touch
VERIFY_TIMEOUT = 10.0


class SigningError(Exception):
    """Signing could not happen; the message says why and what to do."""


def message(launch_id: str, kind: str, account: str, data: dict[str, Any]) -> bytes:
    """The exact bytes signed and verified for an event (its data without the signature itself)."""
    body = {k: v for k, v in data.items() if k != SIG_KEY}
    doc = {"launch": launch_id, "kind": kind, "account": account, "data": body}
    return b"warroom signed event v1\n" + orjson.dumps(doc, option=orjson.OPT_SORT_KEYS | orjson.OPT_SERIALIZE_NUMPY)


def signer_keys(signers: Path, account: str) -> list[str]:
    """The public keys ("type base64") allowed_signers lists for an account."""
    try:
        lines = signers.read_text(encoding="utf-8", errors="replace").splitlines()
    except OSError as e:
        raise SigningError(f"cannot read allowed_signers {signers}: {e.strerror or e}") from None
    out = []
    for raw in lines:
        parts = raw.strip().split()
        if not parts or parts[0].startswith("#"):
            continue
        principals = parts[0].strip('"').split(",")
        if account not in principals:
            continue
        for i, p in enumerate(parts[1:-1], 1):
            if p.startswith(("ssh-", "ecdsa-", "sk-")):
                out.append(f"{p} {parts[i + 1]}")
                break
    return out


def agent_keys(env: dict[str, str] | None = None) -> list[str]:
    """The public keys the user's ssh-agent holds ("type base64"); SigningError with a hint when there is none."""
    env = dict(os.environ if env is None else env)
    if not env.get("SSH_AUTH_SOCK"):
        raise SigningError(
            "no ssh-agent: SSH_AUTH_SOCK is not set. Start one (eval $(ssh-agent); ssh-add) or connect with "
            "agent forwarding (ssh -A), then sign again"
        )
    try:
        r = subprocess.run(["ssh-add", "-L"], capture_output=True, text=True, timeout=VERIFY_TIMEOUT, env=env)
    except FileNotFoundError:
        raise SigningError("ssh-add is not installed (OpenSSH client); signing needs it") from None
    except subprocess.TimeoutExpired:
        raise SigningError(f"the ssh-agent did not answer within {VERIFY_TIMEOUT:.0f}s") from None
    if r.returncode == 2 or "connect" in r.stderr.lower():
        raise SigningError(f"cannot reach the ssh-agent at SSH_AUTH_SOCK ({clean(r.stderr.strip())})")
    if r.returncode != 0:
        raise SigningError("the ssh-agent holds no key: add yours with ssh-add (ssh-add -c to confirm each use)")
    return [" ".join(line.split()[:2]) for line in r.stdout.splitlines() if line.strip()]


def sign(
    launch_id: str,
    kind: str,
    account: str,
    data: dict[str, Any],
    signers: Path,
    *,
    timeout: float = SIGN_TIMEOUT,
    env: dict[str, str] | None = None,
) -> str:
    """The armored signature of the event by the agent's key that allowed_signers lists for `account`."""
    env = dict(os.environ if env is None else env)
    allowed = signer_keys(signers, account)
    if not allowed:
        raise SigningError(f"allowed_signers {signers} lists no key for account {account}: ask for yours to be added")
    held = agent_keys(env)
    key = next((k for k in held if k in allowed), None)
    if key is None:
        raise SigningError(
            f"the ssh-agent holds none of the keys allowed_signers lists for {account} "
            f"({len(held)} key{'s' if len(held) != 1 else ''} in the agent); ssh-add the right one"
        )
    with tempfile.TemporaryDirectory(prefix="warroom-sign-") as tmp:
        pub = Path(tmp) / "key.pub"
        pub.write_text(key + "\n")
        try:
            r = subprocess.run(
                ["ssh-keygen", "-q", "-Y", "sign", "-f", str(pub), "-n", NAMESPACE],
                input=message(launch_id, kind, account, data),
                capture_output=True,
                timeout=timeout,
                env=env,
            )
        except FileNotFoundError:
            raise SigningError("ssh-keygen is not installed (OpenSSH client); signing needs it") from None
        except subprocess.TimeoutExpired:
            raise SigningError(
                f"the ssh-agent did not sign within {timeout:.0f}s (a confirm-on-use or FIDO key waits for you)"
            ) from None
    sig = r.stdout.decode("ascii", "replace")
    if r.returncode != 0 or "BEGIN SSH SIGNATURE" not in sig:
        raise SigningError(f"ssh-keygen could not sign: {clean(r.stderr.decode('utf-8', 'replace').strip())}")
    return sig.strip()


def verify(
    launch_id: str, kind: str, account: str, data: dict[str, Any], signers: Path, timeout: float = VERIFY_TIMEOUT
) -> SigVerdict:
    """Whether `data[sig]` is a good signature of the event by `account`'s key in allowed_signers."""
    sig = data.get(SIG_KEY)
    if not isinstance(sig, str) or "BEGIN SSH SIGNATURE" not in sig:
        return SigVerdict(False, "", "the signature field is not an SSH signature")
    with tempfile.TemporaryDirectory(prefix="warroom-verify-") as tmp:
        sig_file = Path(tmp) / "event.sig"
        sig_file.write_text(sig + "\n")
        try:
            r = subprocess.run(
                ["ssh-keygen", "-Y", "verify", "-f", str(signers), "-I", account, "-n", NAMESPACE, "-s", str(sig_file)],
                input=message(launch_id, kind, account, data),
                capture_output=True,
                timeout=timeout,
            )
        except FileNotFoundError:
            return SigVerdict(False, "", "ssh-keygen is not installed: the signature cannot be checked")
        except subprocess.TimeoutExpired:
            return SigVerdict(False, "", f"ssh-keygen did not answer within {timeout:.0f}s")
    said_lines = (r.stdout + r.stderr).decode("utf-8", "replace").strip().splitlines()
    said = clean(said_lines[-1]) if said_lines else ""
    if r.returncode == 0:
        return SigVerdict(True, account, said)
    return SigVerdict(False, "", f"not a good signature by {account} ({said or 'ssh-keygen refused it'})")


__all__ = ["NAMESPACE", "SigningError", "agent_keys", "message", "sign", "signer_keys", "verify"]
