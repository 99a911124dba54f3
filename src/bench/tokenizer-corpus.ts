// A deterministic mixed corpus for the tokenizer benchmark: prose, source code, JSON, CJK, Arabic,
// Hindi, emoji, numbers and whitespace runs, in proportions like real chat traffic, cut into prompts.

/** A small deterministic PRNG (mulberry32): the same corpus on every run, and in the tokenizer tests. */
export function prng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

const WORDS = (
  'the of and to in is you that it he was for on are as with his they at be this have from or one had by ' +
  'word but not what all were we when your can said there use an each which she do how their if will up other ' +
  'about out many then them these so some her would make like him into time has look two more write go see ' +
  'number no way could people my than first water been call who oil its now find long down day did get come ' +
  'made may part model inference cache token latency throughput kubernetes cluster request router worker'
).split(' ');
const CJK =
  '的一是不了人我在有他这为之大来以个中上们到说国和地也子时道出而要于就下得可你年生自会那后能对着事其里所去行过家十用发天如然作方成者多日都三小军二无同么经法当起与好看学进种将还分此心前面又定见只主没公从';
const ARABIC = [
  'مرحبا',
  'بالعالم',
  'هذا',
  'اختبار',
  'للنص',
  'العربي',
  'مع',
  'كلمات',
  'كثيرة',
  'في',
  'الجملة',
];
const HINDI = ['नमस्ते', 'दुनिया', 'यह', 'हिंदी', 'पाठ', 'का', 'परीक्षण', 'है', 'और', 'भी', 'शब्द'];
const EMOJI = ['😀', '👍🏽', '👨‍👩‍👧‍👦', '🏳️‍🌈', '🇫🇷', '🧑🏿‍💻', '❤️', '🚀'];

function pick<T>(rnd: () => number, xs: readonly T[]): T {
  return xs[Math.floor(rnd() * xs.length)] as T;
}

function prose(rnd: () => number): string {
  const n = 20 + Math.floor(rnd() * 60);
  const words: string[] = [];
  for (let i = 0; i < n; i++) {
    let w = pick(rnd, WORDS);
    if (i === 0 || rnd() < 0.05) w = w[0]?.toUpperCase() + w.slice(1);
    if (rnd() < 0.03) w += "'s";
    if (rnd() < 0.05) w = String(Math.floor(rnd() * 100000));
    words.push(w + (rnd() < 0.08 ? ',' : ''));
  }
  return `${words.join(' ')}.\n\n`;
}

function code(rnd: () => number): string {
  const name = `${pick(rnd, WORDS)}_${pick(rnd, WORDS)}`;
  return `function ${name}(a, b) {\n  const total = a + b * ${Math.floor(rnd() * 1000)};\n\tif (total > 0x1F) {\n    return { ok: true, value: total };\n  }\n  return null; // ${pick(rnd, WORDS)}\n}\n\n`;
}

function json(rnd: () => number): string {
  const obj: Record<string, unknown> = {};
  for (let i = 0; i < 6; i++)
    obj[pick(rnd, WORDS)] = rnd() < 0.5 ? rnd() * 1e6 : [pick(rnd, WORDS), null, true];
  return `${JSON.stringify(obj, null, rnd() < 0.5 ? 2 : 0)}\n`;
}

function cjk(rnd: () => number): string {
  let s = '';
  const n = 40 + Math.floor(rnd() * 80);
  for (let i = 0; i < n; i++) s += rnd() < 0.08 ? '，' : (CJK[Math.floor(rnd() * CJK.length)] ?? '');
  return `${s}。\n`;
}

function words(rnd: () => number, list: readonly string[]): string {
  const n = 15 + Math.floor(rnd() * 30);
  return `${Array.from({ length: n }, () => pick(rnd, list)).join(' ')}.\n`;
}

function misc(rnd: () => number): string {
  return `${pick(rnd, EMOJI)} ${Math.floor(rnd() * 1e9)}  \t ${pick(rnd, EMOJI)}\u00a0${pick(rnd, WORDS)}\n\n\n`;
}

/** About `bytes` of mixed text (UTF-8), the same for a given seed. */
export function mixedCorpus(bytes: number, seed = 42): string {
  const rnd = prng(seed);
  const parts: string[] = [];
  let size = 0;
  while (size < bytes) {
    const r = rnd();
    const part =
      r < 0.45
        ? prose(rnd)
        : r < 0.6
          ? code(rnd)
          : r < 0.7
            ? json(rnd)
            : r < 0.8
              ? cjk(rnd)
              : r < 0.86
                ? words(rnd, ARABIC)
                : r < 0.92
                  ? words(rnd, HINDI)
                  : misc(rnd);
    parts.push(part);
    size += Buffer.byteLength(part);
  }
  return parts.join('');
}

/** Cuts `text` into prompts of about `bytes` UTF-8 bytes each, on character boundaries. */
export function cutPrompts(text: string, bytes: number): string[] {
  const prompts: string[] = [];
  let start = 0;
  let size = 0;
  for (let i = 0; i < text.length; i++) {
    const c = text.charCodeAt(i);
    const isHigh = c >= 0xd800 && c < 0xdc00;
    size += c < 0x80 ? 1 : c < 0x800 ? 2 : isHigh ? 4 : 3;
    if (isHigh) i++;
    if (size >= bytes) {
      prompts.push(text.slice(start, i + 1));
      start = i + 1;
      size = 0;
    }
  }
  if (start < text.length) prompts.push(text.slice(start));
  return prompts;
}
