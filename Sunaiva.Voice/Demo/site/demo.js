// Sunaiva voice demo: microphone -> AudioWorklet (PCM16 16 kHz) -> session WebSocket; reply audio and events back.
const $ = (id) => document.getElementById(id);
const tokenInput = $('token');
// #token=…&voice=…&session=…&autostart=1 lets scripted clients (the headless Chromium test) drive the page.
const fragment = new URLSearchParams(location.hash.slice(1));
tokenInput.value = fragment.get('token') || localStorage.getItem('sunaiva-token') || '';
let voices = [];
let session = null;
let socket = null;
let lastSeq = 0;
let audio = null;
let playAt = 0;
let playing = [];
let pingTimer = null;
let stopping = false;
let disconnectedAt = null;
const partial = { user: null };
const turnStarted = new Map();
// #marks=1: latency marks as console lines ("sunaiva-mark {json}") for the bench's Chromium client: when reply audio
// starts arriving, and the capture clock (its zero is the earliest page time consistent with the samples captured so far,
// as a frame never arrives before it was captured; the first loud sample lets the bench line the WAV up with it).
const marks = fragment.get('marks') === '1';
const capture = { captured: 0, zero: Infinity, frames: 0, onset: null };
let lastAudioAt = -Infinity;
function mark(kind, fields) {
  if (marks) console.log(`sunaiva-mark ${JSON.stringify({ kind, t: performance.now(), ...fields })}`);
}

function headers() {
  localStorage.setItem('sunaiva-token', tokenInput.value.trim());
  return { Authorization: `Bearer ${tokenInput.value.trim()}`, 'Content-Type': 'application/json' };
}

async function loadVoices() {
  const response = await fetch('/voices', { headers: headers() });
  if (!response.ok) { $('status').textContent = `Voices: ${response.status} (is the token valid?)`; return; }
  voices = await response.json();
  const regions = [...new Set(voices.map((v) => v.region))];
  $('region').replaceChildren(...regions.map((r) => new Option(r, r)));
  $('region').value = regions.includes('en-US') ? 'en-US' : regions[0];
  showVoices();
}

function showVoices() {
  const region = $('region').value;
  $('voice').replaceChildren(...voices.filter((v) => v.region === region).map((v) => new Option(`${v.displayName} (${v.gender})`, v.id)));
}

function line(role, text, cls = '') {
  const li = document.createElement('li');
  li.className = `${role} ${cls}`;
  li.textContent = text;
  $('transcript').append(li);
  li.scrollIntoView({ block: 'end' });
  return li;
}

function setMode(mode, reason) {
  $('mode').textContent = mode;
  $('mode').className = `badge ${mode}`;
  $('reason').textContent = reason ? `(${reason})` : '';
  $('text-form').classList.toggle('highlight', mode === 'text');
}

function stopPlayback() {
  for (const source of playing) { try { source.stop(); } catch { /* already ended */ } }
  playing = [];
  playAt = 0;
}

function play(buffer) {
  const pcm = new Int16Array(buffer);
  const clip = audio.createBuffer(1, pcm.length, 16000);
  const data = clip.getChannelData(0);
  for (let i = 0; i < pcm.length; i++) data[i] = pcm[i] / 32768;
  const source = audio.createBufferSource();
  source.buffer = clip;
  source.connect(audio.destination);
  playAt = Math.max(playAt, audio.currentTime + 0.02);
  source.start(playAt);
  playAt += clip.duration;
  playing.push(source);
  source.onended = () => { playing = playing.filter((s) => s !== source); };
}

function onEvent(e) {
  if (e.seq) lastSeq = Math.max(lastSeq, e.seq);
  switch (e.type) {
    case 'ready':
      setMode(e.mode, e.resumed ? 'resumed' : '');
      $('status').textContent = `Connected (${e.voiceId}, VAD ${e.vad}). Speak when ready.`;
      break;
    case 'transcript':
      if (e.role === 'user' && !e.final) {
        partial.user ??= line('user', '', 'partial');
        partial.user.textContent = e.text;
        break;
      }
      if (e.role === 'user') {
        partial.user?.remove();
        partial.user = null;
        line('user', e.text);
        turnStarted.set(e.turn, performance.now());
      } else if (e.final) {
        const last = [...document.querySelectorAll(`li[data-turn="${e.turn}"]`)];
        last.forEach((li) => li.remove());
        line('assistant', e.text);
      } else {
        line('assistant', e.text, 'partial').dataset.turn = e.turn;
      }
      break;
    case 'mode':
      setMode(e.mode, e.reason);
      line('note', `Now in ${e.mode} mode: ${e.reason}`, 'note');
      break;
    case 'emotion':
      $('emotion').textContent = `emotion: ${e.label ?? ''} ${e.confidence != null ? `(${Math.round(e.confidence * 100)}%)` : ''}`;
      break;
    case 'barge_in':
      stopPlayback();
      break;
    case 'retract':
      // A reply started at a pause in the user's speech, but the user went on: it is not the answer.
      stopPlayback();
      mark('retract', { turn: e.turn });
      break;
    case 'latency': {
      const row = document.createElement('tr');
      const client = turnStarted.has(e.turn) ? Math.round(performance.now() - turnStarted.get(e.turn)) : null;
      for (const v of [e.turn, e.endpointingMs, e.sttMs, e.replyMs, e.ttsFirstByteMs, e.serverMs, client]) {
        const td = document.createElement('td');
        td.textContent = v == null ? '-' : typeof v === 'number' ? `${Math.round(v)}` : v;
        row.append(td);
      }
      $('latency').tBodies[0].append(row);
      mark('latency', e);
      break;
    }
    case 'error':
      line('note', e.message, 'note');
      break;
  }
}

function connect() {
  const scheme = location.protocol === 'https:' ? 'wss' : 'ws';
  const url = `${scheme}://${location.host}/voice/sessions/${session.id}/stream?lastSeq=${lastSeq}&access_token=${encodeURIComponent(tokenInput.value.trim())}`;
  socket = new WebSocket(url);
  socket.binaryType = 'arraybuffer';
  socket.onmessage = (m) => {
    if (typeof m.data === 'string') { onEvent(JSON.parse(m.data)); return; }
    const now = performance.now();
    if (now - lastAudioAt > 300) mark('audio', {});
    lastAudioAt = now;
    play(m.data);
  };
  socket.onopen = () => {
    disconnectedAt = null;
    pingTimer = setInterval(() => socket.readyState === 1 && socket.send(JSON.stringify({ type: 'ping', t: Date.now() })), 10000);
  };
  socket.onclose = () => {
    clearInterval(pingTimer);
    if (stopping) return;
    disconnectedAt ??= Date.now();
    if (Date.now() - disconnectedAt > 110000) { $('status').textContent = 'Disconnected.'; return; }
    $('status').textContent = 'Connection lost, resuming...';
    setTimeout(connect, 1000);
  };
}

$('region').onchange = showVoices;
tokenInput.onchange = loadVoices;
$('start').onclick = async () => {
  if (fragment.get('session')) {
    session = { id: fragment.get('session') };
  } else {
    const response = await fetch('/voice/sessions', { method: 'POST', headers: headers(), body: JSON.stringify({ voiceId: $('voice').value, mode: 'local' }) });
    if (!response.ok) { $('status').textContent = `Could not start: ${response.status}`; return; }
    session = await response.json();
  }
  stopping = false;
  lastSeq = 0;
  audio = new AudioContext({ sampleRate: 16000 });
  await audio.audioWorklet.addModule('/voice/demo/pcm-worklet.js');
  connect();
  try {
    const stream = await navigator.mediaDevices.getUserMedia({ audio: { channelCount: 1, echoCancellation: true, noiseSuppression: true } });
    const worklet = new AudioWorkletNode(audio, 'pcm-capture');
    worklet.port.onmessage = (m) => {
      if (marks) {
        const pcm = new Int16Array(m.data);
        if (capture.onset == null) {
          const i = pcm.findIndex((v) => Math.abs(v) > 9000);
          if (i >= 0) { capture.onset = capture.captured + i; mark('onset', { sample: capture.onset }); }
        }
        capture.captured += pcm.length;
        capture.zero = Math.min(capture.zero, performance.now() - (capture.captured / 16));
        if (++capture.frames % 50 === 1) mark('capture', { zero: capture.zero, captured: capture.captured });
      }
      if (socket?.readyState === 1) socket.send(m.data);
    };
    audio.createMediaStreamSource(stream).connect(worklet);
  } catch (error) {
    setMode('text', 'no microphone');
  }
  $('start').disabled = true;
  $('stop').disabled = false;
};
$('stop').onclick = () => {
  stopping = true;
  socket?.close();
  audio?.close();
  $('start').disabled = false;
  $('stop').disabled = true;
};
$('text-form').onsubmit = (e) => {
  e.preventDefault();
  const text = $('text').value.trim();
  if (!text || socket?.readyState !== 1) return;
  socket.send(JSON.stringify({ type: 'text', text, id: crypto.randomUUID() }));
  $('text').value = '';
};
if (tokenInput.value) {
  loadVoices().then(() => {
    if (fragment.get('voice')) $('voice').value = fragment.get('voice');
    if (fragment.get('autostart')) $('start').click();
  });
}
