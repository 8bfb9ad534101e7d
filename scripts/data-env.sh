# Sourced by test.sh and reproduce.sh (from the repository root): points SSMLAB_DATA_DIR at the
# shared real-data folder ../shared/data beside the checkout (absolute path) when that folder
# exists and the variable is not set already. Tests and experiments find real data only through
# this variable; without it the tests that need the data are skipped, with the reason.
if [ -z "${SSMLAB_DATA_DIR:-}" ] && [ -d ../shared/data ]; then
  SSMLAB_DATA_DIR="$(cd ../shared/data && pwd)"
  export SSMLAB_DATA_DIR
fi
if [ -n "${SSMLAB_DATA_DIR:-}" ]; then
  echo "[data] SSMLAB_DATA_DIR=$SSMLAB_DATA_DIR"
else
  echo "[data] SSMLAB_DATA_DIR not set and no ../shared/data: tests that need real data will be skipped"
fi
