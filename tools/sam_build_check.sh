#!/usr/bin/env bash
# Validate and build the SAM application without Docker or an AWS account.
#
#   tools/sam_build_check.sh            # sam validate (+ --lint), check_template.py, then sam build
#                                       # if a python3.12 exists
#   SKIP_BUILD=1 tools/sam_build_check.sh
#
# aws-sam-cli pins its own boto3, so it lives in its own virtualenv (.venv-sam, gitignored),
# created on first use. `sam build` needs an interpreter matching the functions' runtime
# (python3.12) on PATH; pyenv's 3.12.x is picked up when present. Without one the build step is
# skipped (exit 0) with a note. Output is quiet: one line per step, full logs only on failure.
set -euo pipefail

REPO_ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
SAM_VENV="${SAM_VENV:-$REPO_ROOT/.venv-sam}"
TEMPLATE="${TEMPLATE:-$REPO_ROOT/template.yaml}"
BUILD_DIR="${BUILD_DIR:-$REPO_ROOT/.aws-sam/build}"
export AWS_DEFAULT_REGION="${AWS_DEFAULT_REGION:-us-east-1}"
export SAM_CLI_TELEMETRY=0
LOG_DIR="$(mktemp -d "${TMPDIR:-/tmp}/sam_build_check.XXXXXX")"
trap 'rm -rf "$LOG_DIR"' EXIT

step() { printf '[sam-check] %s\n' "$*"; }
fail() {
	printf '[sam-check] FAILED: %s\n' "$1" >&2
	if [[ -n "${2:-}" && -s "$2" ]]; then tail -n 60 "$2" >&2; fi
	exit 1
}
# run NAME LOGFILE CMD...: run quietly, report elapsed seconds, dump the log on failure.
run() {
	local name="$1" log="$2" start=$SECONDS
	shift 2
	if "$@" >"$log" 2>&1; then
		step "$name: ok ($((SECONDS - start)) s)"
	else
		fail "$name ($((SECONDS - start)) s)" "$log"
	fi
}

# 1. SAM CLI in its own virtualenv.
if [[ ! -x "$SAM_VENV/bin/sam" ]]; then
	step "creating $SAM_VENV with aws-sam-cli (first run only)"
	run "python3 -m venv" "$LOG_DIR/venv.log" python3 -m venv "$SAM_VENV"
	run "pip install aws-sam-cli" "$LOG_DIR/pip.log" \
		"$SAM_VENV/bin/python" -m pip install --quiet --disable-pip-version-check aws-sam-cli
fi
SAM="$SAM_VENV/bin/sam"
step "$("$SAM" --version) ($SAM)"

cd "$REPO_ROOT"

# 2. Validation (needs only a region, no credentials). `sam validate --lint` misses value errors
#    (wrong runtime, out-of-range BatchSize); check_template.py lints the translated template too
#    and runs here with the cfn-lint and samtranslator that aws-sam-cli brings.
run "sam validate" "$LOG_DIR/validate.log" "$SAM" validate --template-file "$TEMPLATE"
run "sam validate --lint" "$LOG_DIR/lint.log" "$SAM" validate --lint --template-file "$TEMPLATE"
run "tools/check_template.py" "$LOG_DIR/check.log" "$SAM_VENV/bin/python" "$REPO_ROOT/tools/check_template.py" "$TEMPLATE"

if [[ "${SKIP_BUILD:-0}" == 1 ]]; then
	step "sam build: skipped (SKIP_BUILD=1)"
	exit 0
fi

# 3. Find a python3.12 for `sam build` (functions are built with the runtime's interpreter).
py312_bin_dir() {
	local candidate
	if candidate="$(python3.12 -c 'import sys; print(sys.executable)' 2>/dev/null)"; then
		dirname "$candidate"
		return 0
	fi
	if command -v pyenv >/dev/null 2>&1; then
		local version
		version="$(pyenv versions --bare 2>/dev/null | grep -E '^3\.12(\.[0-9]+)?$' | sort -V | tail -n 1 || true)"
		if [[ -n "$version" ]]; then
			printf '%s/versions/%s/bin\n' "$(pyenv root)" "$version"
			return 0
		fi
	fi
	return 1
}
if ! PY312_DIR="$(py312_bin_dir)"; then
	step "sam build: skipped (no python3.12 on PATH or in pyenv)"
	exit 0
fi
export PATH="$PY312_DIR:$PATH"
step "using $PY312_DIR/python3.12"

# 4. Build (in process, no container) and check the artifacts.
run "sam build" "$LOG_DIR/build.log" \
	"$SAM" build --template-file "$TEMPLATE" --build-dir "$BUILD_DIR"

# Each layer holds what its function imports and nothing else (tools/lambda_layers.py verify);
# the layer Makefile verifies as it builds, this checks what sam build left in the build directory.
missing=0
for layer in IngestLayer QueryLayer UpdaterLayer LiveLayer NotifierLayer CloserLayer RebuildLayer ModerationAdminLayer; do
	if ! "$SAM_VENV/bin/python" "$REPO_ROOT/tools/lambda_layers.py" verify "$layer" "$BUILD_DIR/$layer/python" \
		2>>"$LOG_DIR/layers.log"; then
		missing=1
	fi
done
for fn in MatchIngestFunction LeaderboardQueryFunction ScoreUpdaterFunction LiveConnectionFunction LiveNotifierFunction PeriodCloserFunction BoardRebuildFunction ModerationAdminFunction; do
	if [[ ! -f "$BUILD_DIR/$fn/app.py" ]]; then
		printf '[sam-check] %s has no app.py\n' "$fn" >>"$LOG_DIR/layers.log"
		missing=1
	fi
done
[[ "$missing" == 0 ]] || fail "build artifacts differ from what the functions import" "$LOG_DIR/layers.log"
sizes=""
for layer in IngestLayer QueryLayer UpdaterLayer LiveLayer NotifierLayer CloserLayer RebuildLayer ModerationAdminLayer; do
	sizes+=" $layer $(du -sh "$BUILD_DIR/$layer" | cut -f1)"
done
step "artifacts ok:$sizes; 8 functions in $BUILD_DIR"
