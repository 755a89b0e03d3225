"""The members section of `make bench` (issue 13): what membership costs a space with many
members. Runs `concord-bench --suite members`, which prints JSON lines, then a table and its
goals (membership overhead on import under 10%, a rotation to 1,000 members under 1 s and
200 KB); this passes the table and goals through."""
import shlex
import shutil
import subprocess
import tempfile


def run_members(concord_bin: str, seed: int, runs: int, timeout: float, base_dir: str | None = None,
                members: int = 1000, bundles: int = 500) -> tuple[str, list[str], bool]:
    """Returns (report text, JSON lines, every goal met)."""
    base = tempfile.mkdtemp(prefix="concord-members-bench-", dir=base_dir)
    try:
        cmd = [concord_bin, "--suite", "members", "--seed", str(seed), "--dir", base, "--members", str(members),
               "--bundles", str(bundles), "--runs", str(max(3, runs))]
        proc = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout)
        if proc.returncode != 0:
            raise RuntimeError(f"{shlex.join(cmd)} exited {proc.returncode}:\n{proc.stderr}")
    finally:
        shutil.rmtree(base, ignore_errors=True)
    lines = proc.stdout.splitlines()
    json_lines = [line for line in lines if line.strip().startswith("{")]
    text_lines = [line for line in lines if not line.strip().startswith("{")]
    text = f"Membership ({members} members; {shlex.join(cmd[:3])} ...)\n" + "\n".join(text_lines).strip()
    met = all("MISS" not in line for line in text_lines)
    return text, json_lines, met
