#!/usr/bin/env node
// golden.js - run face-api.js (@vladmandic/face-api 1.7.15 on TensorFlow.js
// 4.22.0, pure-JS "cpu" backend) on images and write latentmill's golden JSON,
// or time each network (--bench) as the peer of tests/bench/bench_faces.sh.
//
//   cd tools/faceapi_ref && npm install      (pinned versions in package.json)
//   node golden.js --models DIR --out DIR IMAGE...        golden JSON per image
//   node golden.js --models DIR --bench N IMAGE            ms per network
//
// IMAGE may be PNG (pngjs, alpha dropped), JPEG (jpeg-js) or binary PPM (P6).
// JPEG decoders differ by a few levels per pixel, so to compare with
// latentmill (libjpeg-turbo) feed the pixels it decodes: `djpeg -ppm x.jpg >
// x.ppm` gives the same RGB. Each JSON records image.rgb_sha256 of the pixels.
// Output fields: see tests/golden/faceapi/README.md.
'use strict';
const fs = require('fs');
const path = require('path');
const crypto = require('crypto');
const faceapi = require('@vladmandic/face-api/dist/face-api.node-wasm.js');
const { PNG } = require('pngjs');
const jpeg = require('jpeg-js');

const tf = faceapi.tf;

function decode(file) {
  const buf = fs.readFileSync(file);
  let w; let h; let src; let ch;
  if (buf.slice(0, 4).equals(Buffer.from([0x89, 0x50, 0x4e, 0x47]))) {
    const png = PNG.sync.read(buf);
    w = png.width; h = png.height; src = png.data; ch = 4;
  } else if (buf.slice(0, 2).toString() === 'P6') {
    const m = buf.toString('latin1', 0, 100).match(/^P6\s+(\d+)\s+(\d+)\s+(\d+)\s/);
    if (!m || m[3] !== '255') throw new Error(`${file}: unsupported PPM`);
    w = +m[1]; h = +m[2]; src = buf.subarray(m[0].length); ch = 3;
  } else {
    const j = jpeg.decode(buf, { useTArray: true, formatAsRGBA: true, maxMemoryUsageInMB: 2048 });
    w = j.width; h = j.height; src = j.data; ch = 4;
  }
  const rgb = new Uint8Array(w * h * 3);
  for (let p = 0; p < w * h; p++) for (let c = 0; c < 3; c++) rgb[3 * p + c] = src[ch * p + c];
  return { w, h, rgb };
}

// face-api's crop of a float box (clip to the image, floor each value).
function crop(b, W, H) {
  const x = Math.max(b.x, 0); const y = Math.max(b.y, 0);
  const w = Math.min(b.x + b.width - x, W - x); const h = Math.min(b.y + b.height - y, H - y);
  return { x: Math.floor(x), y: Math.floor(y), width: Math.floor(w), height: Math.floor(h) };
}
const box = (b) => ({ x: b.x, y: b.y, width: b.width, height: b.height });
const pts = (p) => p.map((q) => [q.x, q.y]);

async function one(net, img, rect, fn) {
  const [t] = await faceapi.extractFaceTensors(img, [rect]);
  try { return await fn(net, t); } finally { t.dispose(); }
}

async function perFace(img, W, H, det) {
  const out = { detection: { score: det.score, box: box(det.box), relative_box: box(det.relativeBox), crop: crop(det.box, W, H) } };
  const c = crop(det.box, W, H);
  const lm = await one(faceapi.nets.faceLandmark68Net, img, det, (n, t) => n.detectLandmarks(t));
  const lmShifted = lm.shiftBy(det.box.x, det.box.y);
  out.landmarks68 = { net_input_crop: c, shift: [det.box.x, det.box.y], relative: pts(lm.relativePositions), positions: pts(lmShifted.positions) };
  const lt = await one(faceapi.nets.faceLandmark68TinyNet, img, det, (n, t) => n.detectLandmarks(t));
  out.landmarks68_tiny = { net_input_crop: c, relative: pts(lt.relativePositions), positions: pts(lt.shiftBy(det.box.x, det.box.y).positions) };
  const al = lmShifted.align();
  const ac = crop(al, W, H);
  out.aligned_rect = { box: box(al), crop: ac };
  const ex = await one(faceapi.nets.faceExpressionNet, img, al, (n, t) => n.predictExpressions(t));
  out.expressions = { net_input_crop: ac, probabilities: faceapi.FACE_EXPRESSION_LABELS.map((k) => ex[k]) };
  const ag = await one(faceapi.nets.ageGenderNet, img, al, (n, t) => n.predictAgeAndGender(t));
  out.age_gender = { net_input_crop: ac, age: ag.age, gender: ag.gender, gender_probability: ag.genderProbability };
  const dl = lmShifted.align(null, { useDlibAlignment: true });
  const dc = crop(dl, W, H);
  const d = await one(faceapi.nets.faceRecognitionNet, img, dl, (n, t) => n.computeFaceDescriptor(t));
  out.descriptor = { dlib_rect: box(dl), net_input_crop: dc, values: Array.from(d) };
  return out;
}

async function golden(file, outDir) {
  const { w, h, rgb } = decode(file);
  const img = tf.tensor3d(rgb, [h, w, 3], 'int32');
  const t0 = Date.now();
  const res = {
    image: { file: path.basename(file), width: w, height: h, rgb_sha256: crypto.createHash('sha256').update(rgb).digest('hex') },
    harness: { backend: tf.getBackend(), versions: { '@vladmandic/face-api': faceapi.version, '@tensorflow/tfjs': tf.version_core, node: process.version } },
    expression_labels: faceapi.FACE_EXPRESSION_LABELS,
    detectors: {},
    faces: {},
  };
  const dets = {
    tiny_face_detector: new faceapi.TinyFaceDetectorOptions({ inputSize: 416, scoreThreshold: 0.5 }),
    ssd_mobilenetv1: new faceapi.SsdMobilenetv1Options({ minConfidence: 0.5, maxResults: 100 }),
  };
  for (const [name, opt] of Object.entries(dets)) {
    const found = await faceapi.detectAllFaces(img, opt);
    const options = name === 'tiny_face_detector'
      ? { inputSize: opt.inputSize, scoreThreshold: opt.scoreThreshold, iouThreshold: 0.4 }
      : { minConfidence: opt.minConfidence, maxResults: opt.maxResults, iouThreshold: 0.5 };
    res.detectors[name] = { options, detections: found.map((d) => ({ score: d.score, box: box(d.box), relative_box: box(d.relativeBox), crop: crop(d.box, w, h) })) };
    res.faces[name] = [];
    for (const d of found) res.faces[name].push(await perFace(img, w, h, d));
  }
  const f = img.toFloat();
  const lmw = await faceapi.nets.faceLandmark68Net.detectLandmarks(f);
  const ltw = await faceapi.nets.faceLandmark68TinyNet.detectLandmarks(f);
  const exw = await faceapi.nets.faceExpressionNet.predictExpressions(f);
  const agw = await faceapi.nets.ageGenderNet.predictAgeAndGender(f);
  const dw = await faceapi.nets.faceRecognitionNet.computeFaceDescriptor(f);
  f.dispose();
  res.whole_image = {
    landmarks68_relative: pts(lmw.relativePositions), landmarks68_tiny_relative: pts(ltw.relativePositions),
    expressions: faceapi.FACE_EXPRESSION_LABELS.map((k) => exw[k]), age: agw.age, gender: agw.gender,
    gender_probability: agw.genderProbability, descriptor: Array.from(dw),
  };
  res.harness.seconds = (Date.now() - t0) / 1000;
  img.dispose();
  const out = path.join(outDir, path.basename(file).replace(/\.[^.]+$/, '') + '.json');
  fs.writeFileSync(out, JSON.stringify(res, null, 1) + '\n');
  console.error(`${out}: ${res.faces.tiny_face_detector.length} tiny / ${res.faces.ssd_mobilenetv1.length} ssd faces, ${res.harness.seconds} s`);
}

async function timeit(n, fn) {
  await fn(); // warm-up
  const t0 = process.hrtime.bigint();
  for (let i = 0; i < n; i++) await fn();
  return Number(process.hrtime.bigint() - t0) / 1e6 / n;
}

async function bench(file, n) {
  const { w, h, rgb } = decode(file);
  const img = tf.tensor3d(rgb, [h, w, 3], 'int32');
  const opt = new faceapi.TinyFaceDetectorOptions({ inputSize: 416, scoreThreshold: 0.5 });
  const [det] = await faceapi.detectAllFaces(img, opt);
  if (!det) throw new Error(`${file}: no face`);
  const [face] = await faceapi.extractFaceTensors(img, [det]);
  const r = { image: path.basename(file), width: w, height: h, iterations: n, backend: tf.getBackend() };
  r.detector_ms = await timeit(n, () => faceapi.detectAllFaces(img, opt));
  r.landmarks_ms = await timeit(n, () => faceapi.nets.faceLandmark68Net.detectLandmarks(face));
  r.descriptor_ms = await timeit(n, () => faceapi.nets.faceRecognitionNet.computeFaceDescriptor(face));
  r.expression_ms = await timeit(n, () => faceapi.nets.faceExpressionNet.predictExpressions(face));
  r.age_gender_ms = await timeit(n, () => faceapi.nets.ageGenderNet.predictAgeAndGender(face));
  const ssd = new faceapi.SsdMobilenetv1Options({ minConfidence: 0.5, maxResults: 100 });
  r.ssd_ms = await timeit(n, () => faceapi.detectAllFaces(img, ssd));
  console.log(JSON.stringify(r));
}

async function main() {
  const a = process.argv.slice(2);
  let models = process.env.LATENTMILL_MODELS || path.join(__dirname, '../../models/face-api');
  let outDir = '.'; let n = 0; const files = [];
  for (let i = 0; i < a.length; i++) {
    if (a[i] === '--models') models = a[++i];
    else if (a[i] === '--out') outDir = a[++i];
    else if (a[i] === '--bench') n = +a[++i];
    else files.push(a[i]);
  }
  if (!files.length) { console.error('usage: node golden.js [--models DIR] [--out DIR | --bench N] IMAGE...'); process.exit(2); }
  await tf.setBackend('cpu');
  await tf.ready();
  for (const net of ['tinyFaceDetector', 'ssdMobilenetv1', 'faceLandmark68Net', 'faceLandmark68TinyNet', 'faceExpressionNet', 'ageGenderNet', 'faceRecognitionNet']) {
    await faceapi.nets[net].loadFromDisk(models);
  }
  for (const f of files) {
    if (n > 0) await bench(f, n); else await golden(f, outDir);
  }
}
main().catch((e) => { console.error(e); process.exit(1); });
