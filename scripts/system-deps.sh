#!/usr/bin/env bash
# Installs the system libraries musicgen needs and pip cannot provide, when they are missing:
# the FluidSynth library and the FluidR3_GM soundfont (audio: a real piano) always; Debian's
# chromium (browser tests) with --browser.
# Uses apt-get as root or through sudo; otherwise prints what to run and carries on, because
# musicgen falls back to a simple synthesizer and the browser test skips.
set -u
want_browser=0
[ "${1:-}" = "--browser" ] && want_browser=1

missing=()
ldconfig -p 2>/dev/null | grep -q 'libfluidsynth\.so' || missing+=(libfluidsynth3)
[ -f /usr/share/sounds/sf2/FluidR3_GM.sf2 ] || [ -f /usr/share/soundfonts/FluidR3_GM.sf2 ] || missing+=(fluid-soundfont-gm)
if [ $want_browser = 1 ] && [ ! -x /usr/bin/chromium ]; then missing+=(chromium); fi
[ ${#missing[@]} -eq 0 ] && exit 0

if [ "$(id -u)" = 0 ]; then sudo=""
elif command -v sudo >/dev/null && sudo -n true 2>/dev/null; then sudo="sudo"
else
  echo "musicgen: missing system packages: ${missing[*]}" >&2
  echo "  install them with:  sudo apt-get install ${missing[*]}" >&2
  echo "  (macOS: brew install fluid-synth).  Until then audio uses a simple built-in synthesizer" >&2
  echo "  (without FluidSynth) or the small soundfont pretty_midi ships (without fluid-soundfont-gm)." >&2
  exit 0
fi
if ! command -v apt-get >/dev/null; then
  echo "musicgen: missing ${missing[*]}; install FluidSynth with your package manager" >&2
  exit 0
fi
echo "musicgen: installing ${missing[*]} with apt-get"
export DEBIAN_FRONTEND=noninteractive
$sudo apt-get update -qq >/dev/null && $sudo apt-get install -y -qq "${missing[@]}" >/dev/null \
  || echo "musicgen: apt-get could not install ${missing[*]}; audio falls back to the simple synthesizer" >&2
exit 0
