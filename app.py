"""The musicgen web page: press Generate, hear a new piece, take the .mid away.

python app.py  (or `make demo`) serves on 127.0.0.1:7860; GRADIO_SERVER_NAME / GRADIO_SERVER_PORT
change that. The logic lives in the musicgen library; this file declares the page and wires it.
"""
from __future__ import annotations

import os

# One BLAS thread per request: a step is a small matrix product, and 8 requests at once each
# asking for 2 threads on a 2-core machine thrash (bench/load.py: p95 67x one visitor's wait).
os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")
os.environ.setdefault("OMP_NUM_THREADS", "1")

import dataclasses  # noqa: E402
import functools  # noqa: E402
import shutil  # noqa: E402
import tempfile  # noqa: E402
import threading  # noqa: E402
import time  # noqa: E402
from collections import OrderedDict  # noqa: E402
from pathlib import Path  # noqa: E402

import gradio as gr  # noqa: E402
import pretty_midi  # noqa: E402

import musicgen  # noqa: F401  (quiets TensorFlow)
from musicgen import stateful
from musicgen.audio import synthesizer_name
from musicgen.batching import batcher_for
from musicgen.chords import ROOT_NAMES, bar_by_bar
from musicgen.config import Config
from musicgen.errors import HubUnreachable, ModelError
from musicgen.generate import extend_draft, make_primer, pieces_of, sample_draft
from musicgen.hub import MusicModel, load, resolve_source
from musicgen.midi import MAX_MIDI_BYTES, MidiError, downbeat_beats
from musicgen.output import OutputError, write_piece
from musicgen.piece import Draft
from musicgen.roll import PLAYHEAD_JS, player_html, roll_of
from musicgen.request import WEB_PAGE, Request
from musicgen.schemes import scheme_for
from musicgen.steering import FORMS, PROGRESSIONS, Steering, preset_chords, sections_in_words

MAX_VARIATIONS = WEB_PAGE.max_variations  # the page's players
SECONDS_RANGE = (round(WEB_PAGE.min_seconds), round(WEB_PAGE.max_seconds))
NOTE_CHOICES = [pretty_midi.note_number_to_name(pitch) for pitch in range(36, 97)]
INSTRUMENTS = [(f"{program}: {pretty_midi.program_to_instrument_name(program)}", program)
               for program in range(128)]
OUTPUT_ROOT = Path(tempfile.gettempdir()) / "musicgen-app"
CONTINUE, ACCOMPANY = "continue my MIDI", "accompany my melody"  # the starts that read an upload
KEYS = ["any"] + [f"{root} {mode}" for mode in ("major", "minor") for root in ROOT_NAMES]
# Where in a song a piece starts (models with start tokens): an intro, or the song's body.
BEGINNINGS = [("the model's choice", ""), ("as songs begin (an intro)", "opening"),
              ("from inside a song", "middle")]
KEEP_OUTPUTS_SECONDS = 3600
SWEEP_EVERY_SECONDS = 60
_last_sweep = -float("inf")
_sweep_lock = threading.Lock()

MAX_MODELS_HELD = 3  # models kept in memory; the least recently used goes first (never the default)
_models: OrderedDict[str, MusicModel] = OrderedDict()
_models_lock = threading.RLock()  # a Hub fallback loads the default inside


def allowed_models() -> list[str] | None:
    """The Hub ids MUSICGEN_ALLOWED_MODELS lets the model box load (None: any musicgen model)."""
    names = [name.strip() for name in os.environ.get("MUSICGEN_ALLOWED_MODELS", "").split(",") if name.strip()]
    return names or None


def get_model(source: str | None) -> MusicModel:
    """The model for source, loaded once and kept (at most MAX_MODELS_HELD); warmed up so no
    visitor pays for compiling. On a public deployment MUSICGEN_ALLOWED_MODELS limits the box."""
    key = resolve_source((source or "").strip() or None)
    default = resolve_source(None)
    allowed = allowed_models()
    if allowed is not None and key not in (default, *allowed):
        raise ModelError(f"this demo serves only {', '.join([default, *allowed])}: {key!r} is not one of them "
                         "(run the app yourself to try any model)")
    with _models_lock:
        if key not in _models:
            try:
                music_model = load(key)
            except HubUnreachable as error:
                if key == default:
                    raise
                # Not kept: the next request tries the Hub again.
                return dataclasses.replace(get_model(None), note=f"{error}; using the built-in model instead")
            if music_model.scheme.shares_batches:  # compiled before the first visitor asks
                batcher_for(music_model.network).warm_up(music_model.config.seq_len)
            _models[key] = music_model
            while len(_models) > MAX_MODELS_HELD:
                oldest = next(name for name in _models if name != default)
                del _models[oldest]
        _models.move_to_end(key)
        return _models[key]


def request_folder() -> Path:
    """A fresh folder for one request's files; at most once a minute, folders over an hour old go."""
    global _last_sweep
    OUTPUT_ROOT.mkdir(parents=True, exist_ok=True)
    with _sweep_lock:
        # Not on every request: with thousands of recent folders the scan alone took 46 ms.
        due = time.monotonic() - _last_sweep >= SWEEP_EVERY_SECONDS
        if due:
            _last_sweep = time.monotonic()
    if due:
        for old in os.scandir(OUTPUT_ROOT):
            try:
                expired = time.time() - old.stat().st_mtime > KEEP_OUTPUTS_SECONDS
            except FileNotFoundError:  # removed a moment ago by someone else
                continue
            if expired:
                shutil.rmtree(old.path, ignore_errors=True)
    return Path(tempfile.mkdtemp(dir=OUTPUT_ROOT))


def show(snapshot: dict, started: float, remarks: list[str]) -> list:
    """Files and facts for a snapshot (a compose.Draft as a dict)."""
    draft = Draft(**snapshot)
    music_model = get_model(draft.source)
    folder, slots, players, notes, seconds, keys = request_folder(), [], [], 0, 0.0, set()
    pieces = pieces_of(music_model, draft)
    for index, piece in enumerate(pieces):
        stem = folder / piece_name(draft, piece, index)
        title = f"seed {draft.seed}, piece {index + 1}"
        write_piece(piece, f"{stem}.mid", f"{stem}.wav", f"{stem}.png", title=title, ogg_path=f"{stem}.ogg")
        # The player streams the small Ogg; the .mid and the full-quality WAV are the downloads. The
        # page plays it under its piano roll; the API returns the files.
        slots += [f"{stem}.ogg", [f"{stem}.mid", f"{stem}.wav"], f"{stem}.png"]
        players.append(player_html(roll_of(piece), served(f"{stem}.ogg"), f"Piece {index + 1}", served(f"{stem}.png")))
        notes += piece.note_count
        seconds = max(seconds, piece.midi.get_end_time())
        keys.add(piece.key)
    slots += [None] * (3 * (MAX_VARIATIONS - len(draft.rows)))
    players += [""] * (MAX_VARIATIONS - len(draft.rows))
    tempi = sorted({round(tempo * draft.speed) for tempo in draft.tempi})
    asked = Steering.from_json(draft.steering).describe()
    facts = (f"{seconds:.0f} s x {len(draft.rows)}, {notes} notes"
             + (f", {'/'.join(map(str, tempi))} BPM" if tempi else "")
             + (f", {'/'.join(sorted(keys))}" if keys - {None} else "")
             + (f"\nasked for: {asked}" if asked else "")
             + f", model {music_model.source}, seed {draft.seed}, {time.perf_counter() - started:.1f} s to make"
             + ("\nsections (a form drawn from the songs' own): "
                + sections_in_words([label for _, label in pieces[0].sections])
                if (draft.steering or {}).get("drawn_form") and pieces[0].sections else "")
             + f"\nplayed through {synthesizer_name()}"
             + ("\nchords read from your melody: " + bar_by_bar(pieces[0].score.chords, downbeat_beats(pieces[0].midi))
                if draft.melody and not (draft.steering or {}).get("chords") else ""))
    return [*slots, *players, facts + "".join(f"\n{remark}" for remark in remarks if remark), draft.seed]


def served(path: str) -> str:
    """The address the page fetches one of our files at (Gradio's file route; OUTPUT_ROOT is allowed).
    Relative, so that it holds behind a proxy's path too (a Space)."""
    return f"gradio_api/file={path}"


def piece_name(draft: Draft, piece, index: int) -> str:
    """A file name that says what the piece is: musicgen-seed7-Eb-major-96bpm-1."""
    words = [f"musicgen-seed{draft.seed}"]
    if piece.key:
        words.append(piece.key.replace(" ", "-"))
    if piece.tempo_bpm:
        words.append(f"{round(piece.tempo_bpm * draft.speed)}bpm")
    return "-".join([*words, str(index + 1)]).replace("#", "sharp")


def user_message(function):
    """Bad input becomes a message in the page (and the API), never a traceback."""
    @functools.wraps(function)
    def wrapped(*args):
        try:
            return function(*args)
        except (ValueError, MidiError, ModelError) as error:
            raise gr.Error(str(error), print_exception=False)
        except OutputError as error:
            raise gr.Error(f"the server could not save your music ({error}); please try again later",
                           print_exception=False)
    return wrapped


@user_message
def generate_music(primer_kind: str = "a single note", note: str = "C4", upload: str | None = None,
                   seconds: float = 30, variations: int = 1, temperature: float | None = None,
                   top_p: float | None = None, seed: str = "", speed: float = 1.0, program: int | None = None,
                   model_source: str = "", chords: str = "", key: str = "any", tempo: str | float | None = "",
                   style: str = "any", start: str = "", history: list | None = None, form: str = ""):
    """(audio, .mid, picture) for each of MAX_VARIATIONS slots, each slot's player and roll (HTML), facts,
    the seed used, and the history.

    Every choice has a default (the API can be called with none); None or empty = the model's own."""
    started = time.perf_counter()
    music_model = get_model(model_source)
    if primer_kind in (CONTINUE, ACCOMPANY):
        if not upload:
            raise ValueError(f"upload a MIDI file to {'continue' if primer_kind == CONTINUE else 'accompany'}, "
                             "or pick another start")
        spec = f"{'midi' if primer_kind == CONTINUE else 'melody'}:{upload}"
    else:
        spec = f"note:{note}" if primer_kind == "a single note" else "random"
    steering = Steering.parse(chords, key, tempo, style, start, form)
    request = Request.build(music_model.config, primer=spec, seconds=seconds, variations=variations,
                            temperature=temperature, top_p=top_p, seed=seed, steering=steering, program=program,
                            speed=speed, limits=WEB_PAGE)
    primer = make_primer(music_model, request.primer, request.seed, request.variations, steering)
    if upload and primer_kind in (CONTINUE, ACCOMPANY):  # the upload's own name, not Gradio's copy's
        primer.description = (f"continuation of {Path(upload).name}" if primer_kind == CONTINUE
                              else f"accompaniment of {Path(upload).name}")
    draft = sample_draft(music_model, request, frame_sampler(music_model), primer)
    snapshot = dataclasses.asdict(draft)
    return [*show(snapshot, started, [f"started from: {primer.description}", music_model.note, *primer.notes]),
            [snapshot]]


def frame_sampler(music_model: MusicModel):
    """Models whose scheme shares batches sample beside other visitors (musicgen.batching)."""
    return batcher_for(music_model.network).generate if music_model.scheme.shares_batches else None


@user_message
def continue_music(history: list | None, piece_number: int, seconds: float, temperature: float | None = None,
                   top_p: float | None = None):
    """Extend one piece of the latest result by `seconds`; the previous result stays for Undo."""
    started = time.perf_counter()
    if not history:
        raise ValueError("generate a piece first, then continue it")
    draft = Draft(**history[-1])
    music_model = get_model(draft.source)
    request = Request.build(music_model.config, seconds=seconds, temperature=temperature, top_p=top_p,
                            seed=draft.seed + len(history), speed=draft.speed, limits=WEB_PAGE)
    longer = extend_draft(music_model, draft, int(piece_number) - 1, request, frame_sampler=frame_sampler(music_model))
    snapshot = dataclasses.asdict(longer)
    return [*show(snapshot, started, []), [*history, snapshot]]


@user_message
def accompany_music(upload: str | None = None, chords: str = "", style: str = "any", variations: int = 1,
                    seed: str = "", temperature: float | None = None, top_p: float | None = None,
                    program: int | None = None, model_source: str = "", history: list | None = None):
    """A piano part under the uploaded melody: what Generate does with "accompany my melody"."""
    return generate_music(ACCOMPANY, "C4", upload, 30, variations, temperature, top_p, seed, 1.0, program,
                          model_source, chords, "any", "", style, "", history)


def fill_preset(preset: str, key: str):
    """The chord box after a preset is picked: its progression in the chosen key."""
    if preset not in PROGRESSIONS:
        return gr.update()
    return preset_chords(preset, key)


def slot_visibility(history: list | None) -> list:
    """Show the player and roll, and the downloads, of each piece in the latest result; hide the rest."""
    pieces = len(history[-1]["rows"]) if history else 1
    return [gr.update(visible=slot < pieces) for slot in range(MAX_VARIATIONS) for _ in range(2)]


@user_message
def undo(history: list | None):
    """Take the last Continue back."""
    if not history or len(history) < 2:
        raise ValueError("nothing to undo")
    return [*show(history[-2], time.perf_counter(), []), history[:-1]]


def concurrency(defaults: Config) -> int:
    """Requests served at once (MUSICGEN_CONCURRENCY overrides). Event models: one a core; more only
    share the cores worse (bench/load.py, 16 visitors on 2 cores: p95 9.1x one visitor's wait at 2,
    12.3x at 4, 15.0x at 8). Frame models: 8, so that their batcher has requests to sample together."""
    if os.environ.get("MUSICGEN_CONCURRENCY"):
        return max(1, int(os.environ["MUSICGEN_CONCURRENCY"]))
    cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else (os.cpu_count() or 2)
    return 8 if scheme_for(defaults).shares_batches else max(2, cores)


def build_page(defaults: Config | None = None, styles: list[str] | None = None) -> gr.Blocks:
    """The page; sampling sliders start at the default model's settings (defaults), the style box
    lists the default model's styles."""
    defaults = defaults or Config()
    styles = styles or ["any"]
    # Gradio keeps uploads and served files in its cache: delete them after an hour, as our outputs.
    with gr.Blocks(title="musicgen", delete_cache=(KEEP_OUTPUTS_SECONDS, KEEP_OUTPUTS_SECONDS)) as page:
        gr.Markdown("# musicgen\nPress **Generate** to hear a new piece; download the .mid for your DAW.\n\n"
                    f"<small>Limits: {SECONDS_RANGE[1]} s and {MAX_VARIATIONS} variations a request, "
                    f"MIDI uploads up to {MAX_MIDI_BYTES // 1_000_000} MB.</small>")
        with gr.Row():
            with gr.Column(scale=1):
                # A random start is the network's own opening, its tune in by bar 4 (an intro when asked
                # under "Begin": docs/measurements/form.md).
                primer_kind = gr.Radio(["random", "a single note", CONTINUE, ACCOMPANY],
                                       value="a single note", label="Start from",
                                       info="random: the model's own opening, the tune within 4 bars; "
                                            "a single note: the tune from the first beat")
                note = gr.Dropdown(NOTE_CHOICES, value="C4", label="Note")
                upload = gr.File(label=f"MIDI to continue or accompany (up to {MAX_MIDI_BYTES // 1_000_000} MB)",
                                 file_types=[".mid", ".midi"], type="filepath")
                accompany_button = gr.Button("Accompany my melody", size="sm")
                seconds = gr.Slider(*SECONDS_RANGE, value=30, step=5, label="Length (seconds)")
                variations = gr.Slider(1, MAX_VARIATIONS, value=1, step=1, label="Variations")
                generate_button = gr.Button("Generate", variant="primary")
                with gr.Accordion("Chords, key, tempo, style, beginning", open=True):
                    preset = gr.Dropdown(["(type your own)", *PROGRESSIONS], value="(type your own)",
                                         label="Progression preset")
                    chords = gr.Textbox(value="", label="Chords, one per bar (empty = the model chooses)",
                                        placeholder="e.g. C G Am F  (C, Cm, C7, Cmaj7, Cm7, Cdim, Csus2, Csus4)")
                    key = gr.Dropdown(KEYS, value="any", label="Key")
                    # A text box: a number box shows 0 when empty. Steering.parse checks 30-300.
                    tempo = gr.Textbox(value="", label="Tempo (BPM, 30-300; empty = the model's choice)",
                                       placeholder="e.g. 96")
                    style = gr.Dropdown(styles, value="any", label="Style", allow_custom_value=True)
                    start = gr.Dropdown(BEGINNINGS, value="", label="Begin")
                    form_preset = gr.Dropdown(["(type your own)", *FORMS], value="(type your own)", label="Form preset")
                    form = gr.Textbox(value="", label="Form (sections and bars; sets the length; empty = one like the songs')",
                                      placeholder="e.g. i4 A8 B8 A8 B8 o4  (A-E, X sung; i intro, b bridge, o outro)")
                with gr.Accordion("Settings", open=False):
                    temperature = gr.Slider(0, 1.5, value=defaults.temperature, step=0.05,
                                            label="Temperature (0 = greedy)")
                    top_p = gr.Slider(0.5, 1.0, value=defaults.top_p, step=0.01, label="Top-p")
                    seed = gr.Textbox(value="", label="Seed (empty = new)")
                    speed = gr.Slider(0.5, 2.0, value=1.0, step=0.05, label="Playback tempo (x)")
                    program = gr.Dropdown(INSTRUMENTS, value=defaults.program,
                                          label="Instrument (of the accompaniment)")
                    model_source = gr.Textbox(value="", label="Model (empty = default; or a Hub id user/name)")
            with gr.Column(scale=2):
                facts = gr.Textbox(label="About this piece", interactive=False, lines=2)
                # Per piece: the player over its piano roll (the page's), and the files (the API's too).
                # The API's player file and picture are outputs the page does not show: the roll plays them.
                outputs, players, shown = [], [], []
                for index in range(MAX_VARIATIONS):
                    with gr.Group():
                        player = gr.HTML(value="", visible=index == 0, js_on_load=PLAYHEAD_JS,
                                         elem_id=f"piece-{index + 1}-player", elem_classes=["piece-player"])
                        files = gr.File(label=f"Piece {index + 1} (.mid, .wav)", file_count="multiple",
                                        visible=index == 0)
                    outputs += [gr.Audio(label=f"Piece {index + 1}", type="filepath", visible=False), files,
                                gr.Image(label=f"Piece {index + 1} piano roll", type="filepath", visible=False)]
                    players.append(player)
                    shown += [player, files]
        with gr.Row():
            piece_number = gr.Dropdown([1, 2, 3, 4], value=1, label="Piece to continue", scale=1)
            continue_button = gr.Button("Continue", scale=1)
            undo_button = gr.Button("Undo", scale=1)
        used_seed = gr.Number(visible=False)
        history = gr.State([])
        inputs = [primer_kind, note, upload, seconds, variations, temperature, top_p, seed, speed,
                  program, model_source, chords, key, tempo, style, start]
        preset.change(fill_preset, [preset, key], chords, api_visibility="private")
        form_preset.change(lambda name: FORMS.get(name, gr.update()), form_preset, form, api_visibility="private")
        results = [*outputs, *players, facts, used_seed, history]
        events = [
            generate_button.click(generate_music, [*inputs, history, form], results, api_name="generate"),
            continue_button.click(continue_music, [history, piece_number, seconds, temperature, top_p],
                                  results, api_name="continue"),
            undo_button.click(undo, [history], results, api_name="undo"),
            accompany_button.click(accompany_music, [upload, chords, style, variations, seed, temperature, top_p,
                                                     program, model_source, history], results, api_name="accompany"),
        ]
        for event in events:  # a page-only step: the API returns plain files
            event.then(slot_visibility, [history], shown, api_visibility="private")
        # The model's own sampling defaults, chosen by generated-vs-real measurements (docs/measurements/pop909-held-out.md).
        sampling = [defaults.temperature, defaults.top_p]
        free = ["", "any", "", "any", ""]
        gr.Examples([["random", "C4", None, 30, 1, *sampling, "7", 1.0, 0, "", *free],
                     ["a single note", "A3", None, 20, 2, *sampling, "", 1.0, 0, "", *free],
                     ["random", "C4", None, 30, 1, *sampling, "", 1.0, 0, "", "Eb Bb Cm Ab", "Eb major", "96",
                      "any", ""]],
                    inputs, label="Try one")
    page.queue(default_concurrency_limit=concurrency(defaults), max_size=64)
    return page


def main() -> None:
    """Load the default model, then serve the page (GRADIO_SERVER_NAME / _PORT choose where)."""
    try:
        default_model = get_model(None)  # load before the first visitor arrives
        default_config = default_model.config
        default_styles = getattr(default_model.vocab, "styles", None)
    except ModelError as error:
        print(f"warning: {error}; pick a model in the page")
        default_config, default_styles = None, None
    # The sampler's compiled loops, compiled (first run on a machine) or loaded while the page starts.
    threading.Thread(target=stateful.warm_up, daemon=True).start()
    # Gradio refuses bigger uploads before they are stored; load_midi checks again for the API.
    # OUTPUT_ROOT holds only the pieces made here: the page's players fetch them by their paths.
    build_page(default_config, default_styles).launch(max_file_size=MAX_MIDI_BYTES, allowed_paths=[str(OUTPUT_ROOT)])


if __name__ == "__main__":
    main()
