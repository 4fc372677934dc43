#!/usr/bin/env bash
# The GPU checks, for a machine with CUDA (the device tool's): the tests that run on CUDA and the
# GPU benchmarks of benchmarks/README.md section 10b. Nothing here runs in CI, which has no GPU.
#
#   bash scripts/gpu_check.sh OUT_DIR
#
# That machine has its own python3 with CUDA PyTorch, scikit-learn and pandas, and no package
# registry: the project's other pure-Python needs travel as wheels in .whl/ (see
# benchmarks/README.md, section 10b), installed into /tmp/site first. mlflow does not travel (its
# dependencies are too many), so the tests that save a model through it are left out here; they
# run in CI.
set -uo pipefail
out=${1:-/tmp/gpu_check}
mkdir -p "$out"
export PYTHONUNBUFFERED=1 MLFLOW_DISABLE_TELEMETRY=true
if compgen -G ".whl/*.whl" >/dev/null; then
  python3 -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --upgrade --target /tmp/site .whl/*.whl \
    || exit 1
  export PYTHONPATH=/tmp/site:$PWD
else
  export PYTHONPATH=$PWD
fi
nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv | tee "$out/gpu.txt"
python3 -c "import torch, sys; print('python', sys.version.split()[0], 'torch', torch.__version__, 'cuda', torch.version.cuda)" \
  | tee -a "$out/gpu.txt"

echo "== tests on CUDA"
timeout 300 python3 -m pytest -q -rs -p no:cacheprovider tests/test_mlp.py tests/test_maml.py tests/test_protonet.py \
  -k "not saves_and_loads and not fit_init" 2>&1 | tee "$out/tests.log" | tail -n 25

echo "== meta-training speed on the GPU (bench_maml.py --part speed)"
timeout 200 python3 benchmarks/bench_maml.py --part speed --device cuda --model conv --seconds 3 --out "$out" 2>&1 \
  | grep -v Warning | tail -n 4
timeout 240 python3 benchmarks/bench_maml.py --part speed --device cuda --model mlp --seconds 2 --out "$out" 2>&1 \
  | grep -v Warning | tail -n 8

echo "== autometa meta-train on a small tabular family: --device cpu against --device cuda"
timeout 200 python3 - "$out" <<'EOF' 2>&1 | grep -v Warning | tee "$out/family_device.txt"
import json, subprocess, sys, tempfile
from pathlib import Path
from tests.test_maml import family_frame
tmp = Path(tempfile.mkdtemp())
family_frame(n_groups=40, rows=40).to_csv(tmp / "sites.csv", index=False)
for hidden, batch in (("64,64", 16), ("256,256", 64)):
    for device in ("cpu", "cuda"):
        cmd = [sys.executable, "cli.py", "meta-train", str(tmp / "sites.csv"), "--group-by", "site", "--target", "y",
               "--iterations", "2000", "--hidden", hidden, "--meta-batch", str(batch), "--device", device,
               "--meta-db", str(tmp / f"m-{device}-{batch}.sqlite"), "--json"]
        done = subprocess.run(cmd, capture_output=True, text=True)
        row = json.loads(done.stdout) if done.returncode == 0 else {"error": done.stderr.strip()[-300:]}
        print(json.dumps({"hidden": hidden, "meta_batch": batch, "device": device,
                          **{k: row.get(k) for k in ("seconds", "held_out_meta", "held_out_random_init", "error")}}))
EOF
