PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
SHARED_BENCH ?= ../shared/bench

.PHONY: install browser ffmpeg test fuzz lint demo screenshot bench bench-ray bench-accuracy fixtures clean

install: $(BIN)/speakerspot

$(BIN)/speakerspot: pyproject.toml constraints.txt
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -c constraints.txt -e ".[test,ray,plot]"
	@touch $@

# The report tests open the pages in Debian's Chromium (Playwright's own browser download cannot
# reach its host here); installed once, with apt.
browser:
	@scripts/install-debian-package /usr/bin/chromium chromium

ffmpeg:
	@scripts/install-debian-package /usr/bin/ffmpeg ffmpeg

test: install browser
	$(BIN)/ruff check speakerspot tests benchmarks docs
	$(BIN)/pytest -q --durations=8

# Damaged captures through the whole command: 300 seeded mutations (make test runs 14).
fuzz: install
	FUZZ_CASES=300 $(BIN)/pytest -q tests/test_fuzz.py

lint: install
	$(BIN)/ruff check speakerspot tests benchmarks docs

# Train on the fixture clips, scan the sample recording that ships with the repo, score it.
demo: install
	$(BIN)/speakerspot train tests/fixtures/speech/train --target rms -o models/demo.pt
	$(BIN)/speakerspot scan tests/fixtures/sample.ts --model models/demo.pt
	$(BIN)/speakerspot eval tests/fixtures/sample.ts --model models/demo.pt --truth tests/fixtures/sample_truth.json -q
	$(BIN)/speakerspot scan tests/fixtures/sample.ts --model models/demo.pt -f json --windows -q -o models/demo.json
	$(BIN)/speakerspot report models/demo.json --truth tests/fixtures/sample_truth.json -o models/demo.html
	@echo "open models/demo.html in a browser to see the timeline and hear each segment"

# The report screenshot in docs/ (the committed sample model's report of the sample recording).
screenshot: install browser
	$(BIN)/python docs/screenshot.py

# Speed and memory: scan vs. the FFmpeg decoder, peak RSS, training time; updates BENCHMARKS.md.
bench: install ffmpeg
	$(BIN)/python benchmarks/speed.py $(if $(wildcard $(SHARED_BENCH)/dev/test/broadcast.ts),--recordings $(SHARED_BENCH)/dev/test/broadcast.ts) \
		$(if $(wildcard $(SHARED_BENCH)/dev/train/pos),--training $(SHARED_BENCH)/dev/train)

# Batch throughput: local workers against Ray tasks, and Ray's cost per recording.
bench-ray: install
	$(BIN)/python benchmarks/ray_speed.py

# Accuracy on the development benchmark in ../shared/bench (not shipped with the repo).
bench-accuracy: install
	$(BIN)/python benchmarks/accuracy.py --bench $(SHARED_BENCH)

# Regenerate the speech fixtures (needs flite: apt-get install flite) and the reference model the
# tests scan with. Their output is committed.
fixtures: install
	$(BIN)/python tests/make_fixtures.py
	$(BIN)/python tests/make_reference_model.py

clean:
	rm -rf $(VENV) .pytest_cache models/demo.pt models/demo.json models/demo.html
