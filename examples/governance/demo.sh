#!/usr/bin/env bash
# The governance path of `make demo`: the forecaster is registered with its measured backtest,
# its card written, a deployment proposed and assessed, opened for public comment, reviewed and
# voted on by three board members, activated, and then used: the operational forecast waits in
# the human-review queue. Safe to run again on the same store (each step is skipped once done).
set -euo pipefail
# policy.toml's 0-day comment period is for the demonstration only: outside it the floors hold
# (14 days; a majority of the board), and every step's ledger entry records demo: true
export CRIMELENS_GOVERNANCE_DEMO=1
CL=${CL:-crimelens}
DB=${DB:-crimelens.duckdb}
DEP=demo-hotspots
MODEL=GradientBoostedCells
VERSION=$($CL --version | awk '{print $NF}')
HERE=$(cd "$(dirname "$0")" && pwd)
mkdir -p build
user() {  # name role: add the user once, keeping the token printed the first time
  if $CL users add "$1" --role "$2" --as demo-admin --db "$DB" --json > "build/$1.new" 2>/dev/null; then
    mv "build/$1.new" "build/$1.json"; else rm -f "build/$1.new"; fi
}
$CL users add demo-admin --role admin --as demo-admin --db "$DB" --json > build/demo-admin.new 2>/dev/null \
  && mv build/demo-admin.new build/demo-admin.json || rm -f build/demo-admin.new
user demo-analyst analyst
user demo-supervisor supervisor
for b in 1 2 3; do user "demo-board-$b" board; done

if ! $CL models card "$MODEL" --version "$VERSION" --as demo-analyst --db "$DB" > /dev/null 2>&1; then
  echo "# register the forecaster with the figures of its own backtest, per area group too"
  CRIMELENS_USER=demo-analyst $CL forecast backtest --dataset synth --models naive,gbm --offense burglary \
    --start 2024-09-01 --periods 12 --coverage 0.01,0.05 --group-by group --register gbm --db "$DB"
  $CL models describe "$MODEL" "$VERSION" --from "$HERE/card.toml" --as demo-analyst --db "$DB"
fi
if ! $CL deployments show "$DEP" --as demo-admin --db "$DB" > /dev/null 2>&1; then
  echo "# propose, assess, public comment, board review, activation"
  $CL deployments create "$DEP" --model "$MODEL" --version "$VERSION" --policy "$HERE/policy.toml" \
    --description "Next-week burglary hotspots for patrol planning (demonstration city)" --as demo-analyst --db "$DB"
  $CL deployments assess "$DEP" --answers "$HERE/aia.toml" --as demo-analyst --db "$DB"
  $CL deployments open-comment "$DEP" --as demo-supervisor --db "$DB"
  $CL deployments comment "$DEP" "Will this send more patrols to my street?" --as public:resident --db "$DB"
  $CL deployments start-review "$DEP" --as demo-supervisor --db "$DB"
  $CL deployments comment "$DEP" "Show the exposure audit before each renewal." --board --as demo-board-1 --db "$DB"
  for b in 1 2 3; do
    $CL deployments vote "$DEP" approve --reason "human review of every forecast; public record kept" \
      --as "demo-board-$b" --db "$DB"
  done
  $CL deployments close-review "$DEP" --as demo-board-1 --db "$DB"
  $CL deployments activate "$DEP" --as demo-admin --db "$DB"
fi
echo "# an operational forecast under the deployment: it waits for a supervisor's decision"
CRIMELENS_USER=demo-analyst $CL forecast run --dataset synth --offense burglary --at 2024-12-01 \
  --deployment "$DEP" --purpose "patrol planning" --db "$DB"
$CL review list --deployment "$DEP" --as demo-supervisor --db "$DB"
$CL deployments list --as demo-admin --db "$DB"
