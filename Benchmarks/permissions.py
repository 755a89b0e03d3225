"""The permissions section of `make bench` (issue 14): what deciding every op against a
permission policy costs at merge. Runs `concord-bench --suite permissions`, which imports the
map workload's bundles into a fresh SQLite replica with and without a 20-rule policy and
prints JSON lines, then a table and its goal (policy overhead under 10% of import time);
this passes the table and goal through."""
import shlex
import shutil
import subprocess
import tempfile


def run_permissions(concord_bin: str, seed: int, runs: int, timeout: float, base_dir: str | None = None,
                    writes: int = 100_000, keys: int = 10_000, bundles: int = 100) -> tuple[str, list[str], bool]:
    """Returns (report text, JSON lines, the goal met)."""
    base = tempfile.mkdtemp(prefix="concord-permissions-bench-", dir=base_dir)
    try:
        cmd = [concord_bin, "--suite", "permissions", "--seed", str(seed), "--dir", base, "--writes", str(writes),
               "--keys", str(keys), "--bundles", str(bundles), "--runs", str(max(3, runs))]
        proc = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout)
        if proc.returncode != 0:
            raise RuntimeError(f"{shlex.join(cmd)} exited {proc.returncode}:\n{proc.stderr}")
    finally:
        shutil.rmtree(base, ignore_errors=True)
    lines = proc.stdout.splitlines()
    json_lines = [line for line in lines if line.strip().startswith("{")]
    text_lines = [line for line in lines if not line.strip().startswith("{")]
    text = (f"Permissions (the map workload, {writes} ops in {bundles} bundles; {shlex.join(cmd[:3])} ...)\n"
            + "\n".join(text_lines).strip())
    met = all("MISS" not in line for line in text_lines)
    return text, json_lines, met
