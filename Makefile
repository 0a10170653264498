# crimelens — the two set-up commands are `make demo` and `make test`.
VENV    ?= .venv
PY      := $(VENV)/bin/python
BIN     := $(VENV)/bin
DB      ?= crimelens.duckdb
SYNTH   ?= build/synth
PORT    ?= 8000
COMPAS  ?= ../shared/data/compas/compas-scores-two-years.deid.csv.gz

.PHONY: install demo test test-fast lint typecheck bench bench-accuracy docs clean web

$(VENV)/.installed: pyproject.toml
	test -x $(PY) || python3 -m venv $(VENV)
	$(PY) -m pip install -q -U pip uv
	$(BIN)/uv pip install -q --python $(PY) -e '.[dev]'
	touch $@

install: $(VENV)/.installed web

## web: vendor Leaflet from the npm registry into the package's static files (offline maps; no CDN)
LEAFLET   ?= 1.9.4
LEAFLET_DIR := src/crimelens/web/static/vendor/leaflet
web: $(LEAFLET_DIR)/VERSION
$(LEAFLET_DIR)/VERSION:
	rm -rf build/npm && mkdir -p build/npm $(LEAFLET_DIR)
	cd build/npm && npm pack --silent leaflet@$(LEAFLET) && tar xzf leaflet-$(LEAFLET).tgz
	cp build/npm/package/dist/leaflet.js build/npm/package/dist/leaflet.css build/npm/package/LICENSE $(LEAFLET_DIR)/
	rm -rf $(LEAFLET_DIR)/images && cp -r build/npm/package/dist/images $(LEAFLET_DIR)/images
	echo "leaflet $(LEAFLET) (npm: leaflet@$(LEAFLET), dist/leaflet.js, dist/leaflet.css), BSD-2-Clause, see LICENSE; refreshed by 'make web'" > $@

## demo: build the synthetic city into the embedded store, run the main jobs on it, serve the dashboard
demo: install
	$(BIN)/crimelens synth --out $(SYNTH) --seed 7 --db $(DB)
	$(BIN)/crimelens incidents summary --db $(DB)
	# forecasts of recorded burglaries: next week's map (GeoPackage + PNG) and a 12-week backtest
	$(BIN)/crimelens forecast run --dataset synth --offense burglary --at 2024-12-01 --horizon 7d --cell-m 150 --out build/forecast.gpkg --db $(DB)
	# the next night shift (22:00-06:00 local): cells also ranked by their share of past night-time assaults
	$(BIN)/crimelens forecast run --dataset synth --offense assault --at 2024-11-30T22:00:00-06:00 --horizon 8h --out build/forecast_night.geojson --db $(DB)
	# a research run with a model's parameters set (recorded with the run and in its ledger entry)
	$(BIN)/crimelens forecast run --dataset synth --offense burglary --at 2024-12-01 --horizon 7d --model weighted --param half_life_days=365 --db $(DB)
	$(BIN)/crimelens forecast backtest --dataset synth --models naive,weighted,w365=weighted,kde,etas,gbm --param w365.half_life_days=365 --versus naive --offense burglary --start 2024-09-01 --periods 12 --horizon 7d --coverage 0.01,0.05 --nij --plot build/forecast_curves.png --db $(DB)
	$(BIN)/crimelens forecast backtests --db $(DB)
	# series: train the linker on the solved series, build candidate series
	$(BIN)/crimelens link train --dataset synth --cutoff 2024-10-01 --db $(DB)
	$(BIN)/crimelens link series --dataset synth --out build/series.gpkg --db $(DB)
	$(BIN)/crimelens link pairs --dataset synth --min-score 0.5 --out build/link_pairs.csv --db $(DB)
	# near repeat: Knox table of the synthetic burglaries and an alert for the latest one
	$(BIN)/crimelens nearrepeat --db $(DB) --dataset synth --offense burglary --space-bands 100,200,300,400 --time-bands 7,14,21,28 --permutations 999 --seed 1 --png build/knox_burglary.png
	$(BIN)/crimelens nearrepeat alert --latest --offense burglary --db $(DB)
	# feedback loops: the Ensign et al. urn, and who lives where the forecasts send patrols
	$(BIN)/crimelens feedback simulate --scenario ensign-urn --out build/feedback --db $(DB)
	$(BIN)/crimelens audit exposure --dataset synth --group-by group --db $(DB)
	# risk: audit COMPAS's own score and fit a readable point score (needs ../shared/data beside the checkout)
	@if [ -f $(COMPAS) ]; then \
	  $(BIN)/crimelens audit $(COMPAS) --score decile_score --label two_year_recid --group race --group sex --threshold 5 --reference race=Caucasian --mitigate --html build/compas-audit.html --db $(DB) && \
	  $(BIN)/crimelens risk fit $(COMPAS) --label two_year_recid --model points --group race --db $(DB); \
	else echo "skipping the COMPAS audit: $(COMPAS) not found (it comes with ../shared/data)"; fi
	# governance: verify the usage ledger, export its signed head, and the public annual report
	$(BIN)/crimelens ledger verify --db $(DB)
	$(BIN)/crimelens ledger head --db $(DB) --json > build/ledger-head.json
	$(BIN)/crimelens report annual --year $$(date +%Y) --out build/report --db $(DB)
	# evidence: intake, redaction of a narrative for release, re-verification of the case
	mkdir -p build && printf '{"report_id":"demo-1","text":"V1 Maria Garcia (DOB 04/12/1985) of 1423 W Elm St called (312) 555-0143."}\n' > build/demo_narratives.jsonl
	$(BIN)/crimelens evidence add build/demo_narratives.jsonl --case DEMO-1 --source "demo RMS export" --db $(DB)
	$(BIN)/crimelens redact text build/demo_narratives.jsonl --out build/demo_redacted.jsonl --case DEMO-1 --db $(DB)
	$(BIN)/crimelens evidence verify DEMO-1 --db $(DB)
	$(BIN)/crimelens evidence cases --db $(DB)
	# governance path: users (tokens kept in build/), the forecaster registered with its backtest,
	# a deployment proposed, assessed, commented on by the public, voted on by the board, activated,
	# and an operational forecast waiting in the human-review queue (examples/governance/demo.sh)
	CL=$(BIN)/crimelens DB=$(DB) bash examples/governance/demo.sh
	# retention: what each deployment's policy would have the store delete now
	$(BIN)/crimelens deployments purge --dry-run --as demo-admin --db $(DB)
	# a checked backup of everything (store, evidence, manifest), recorded in the ledger, and its check
	rm -rf build/backup && $(BIN)/crimelens store backup build/backup --as demo-admin --db $(DB)
	$(BIN)/crimelens store verify-backup build/backup
	@echo "crimelens dashboard: http://127.0.0.1:$(PORT)/  (sign in with the token in build/demo-analyst.json; purpose 'research';"
	@echo "  build/demo-supervisor.json decides the review item, build/demo-board-1.json sees the board's view)"
	@echo "public participation, no account: http://127.0.0.1:$(PORT)/public"
	$(BIN)/crimelens serve --db $(DB) --port $(PORT)

## test: the whole suite (what CI runs)
test: install
	$(BIN)/pytest

test-fast: install
	$(BIN)/pytest -m "not slow and not browser" -x -q

lint: install
	$(BIN)/ruff check src tests benchmarks
	$(BIN)/mypy

typecheck: lint

bench: install
	$(PY) benchmarks/ingest.py
	$(PY) benchmarks/synth.py
	$(PY) benchmarks/knox.py
	$(PY) benchmarks/feedback.py
	$(PY) benchmarks/audit.py
	$(PY) benchmarks/ledger.py
	$(PY) benchmarks/forecast.py
	$(PY) benchmarks/api.py
	$(PY) benchmarks/redaction.py
	$(PY) benchmarks/uploads.py

## bench-accuracy: accuracy benchmarks on ../shared/data (the forecast backtest beside open_cp's stored runs, the
## 2017 validation that chose the default, the oracle limits, next-shift forecasts, and the crimelinkage top-50 bounds). OPENCP: the
## folder of benchmarks/forecast_opencp.py outputs (run in open_cp's own venv, see that script); skipped if absent
OPENCP ?= /work/opencp/out
bench-accuracy: install
	$(PY) benchmarks/forecast_backtest.py --dataset chicago_agg_assault --opencp $(OPENCP) --chosen gbm
	$(PY) benchmarks/forecast_validation.py
	$(PY) benchmarks/forecast_limit.py
	$(PY) benchmarks/forecast_horizons.py --dataset chicago_agg_assault --split test --horizon 8h --models naive,weighted,retro,prospective,kde,etas,sepp
	$(PY) benchmarks/linkage_ceiling.py

clean:
	rm -rf build .pytest_cache .mypy_cache .ruff_cache
