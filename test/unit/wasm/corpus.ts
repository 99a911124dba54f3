// The parity corpus of the tokenizer tests: the text classes where byte-level BPE tokenizers differ
// (scripts, numbers, whitespace runs, special tokens inside text, non-NFC input), plus seeded random
// Unicode (seeded: a failure names a reproducible input).

import { prng } from '../../../src/bench/tokenizer-corpus.js';

export const HANDWRITTEN: readonly string[] = [
  // English prose
  "The quick brown fox jumps over the lazy dog. It's 5 o'clock; we've got time, haven't we? I'LL SEE, YOU'D SAY.",
  'Mr. O\'Neil said: "Don\'t panic!" — and then… nothing happened.',
  // Source code
  'function add(a, b) {\n  return a + b; // sum\n}\n\nconst x = add(1, 2);\n',
  'def f(x):\n\tif x > 0:\n\t\treturn x ** 2\n\treturn -x\n',
  '#include <stdio.h>\nint main(void) { printf("%d\\n", 42); return 0; }',
  '    indented\n        more\r\n\r\n\t\t  mixed \t \n',
  // JSON
  '{"name": "dynamo", "version": [1, 2, 3], "nested": {"ok": true, "n": null, "f": -1.5e-10}}',
  '[{"a":1},{"b":"\\u00e9\\n"}]',
  // CJK, Arabic, Hindi, Thai, Korean, Cyrillic, Greek
  '人工智能正在改变世界。我们需要更好的工具！（测试）',
  '東京は日本の首都です。カタカナとひらがなを混ぜる。',
  '한국어 문장도 테스트합니다. 안녕하세요!',
  'مرحبا بالعالم! هذا اختبار للنص العربي مع أرقام ١٢٣٤٥ و 123.',
  'नमस्ते दुनिया! यह हिंदी पाठ का परीक्षण है। १२३',
  'สวัสดีครับ ภาษาไทยไม่มีช่องว่างระหว่างคำ',
  'Привет, мир! Ёжик в тумане. Ελληνικά γράμματα: αβγ ΑΒΓ.',
  // Emoji with ZWJ sequences and skin tones, flags, keycaps
  '👨‍👩‍👧‍👦 family, 👍🏽 thumbs, 🏳️‍🌈 flag, 🇫🇷🇯🇵 flags, 1️⃣ keycap, 🧑🏿‍💻 coder',
  '😀😃😄😁😆😅🤣😂🙂🙃',
  // Combining marks, non-NFC
  'e\u0301 cafe\u0301 A\u030a \u1e9b\u0323 n\u0303 o\u0308\u0304',
  'Å Å Å ﬁ ﬀ ǆ Ⅻ ① ｆｕｌｌｗｉｄｔｈ',
  '\u0915\u093c \u0929 \u1100\u1161\u11a8 \uac00\u11a8',
  // Numbers of every length
  '0 1 12 123 1234 12345 123456 1234567 12345678 123456789 1234567890 3.14159 -42 1e10 0x1F 1,000,000',
  '٠١٢٣٤٥٦٧٨٩ ０１２３ ²³ ½ Ⅷ',
  // Whitespace runs, NBSP, ideographic space
  'a  b   c    d\t\te\n\nf\n\n\ng \u00a0h\u00a0\u00a0i\u3000j\u2003k\u200bl',
  '   \n   \n\n   \t  ',
  ' ',
  '\n',
  '',
  // Contractions and case
  "can't CAN'T Can'T we'Re I'M you'LL he'D it'S they'VE 'S 'ſ",
  // Special tokens inside text
  '<|im_start|>system\nYou are helpful.<|im_end|>\n<|im_start|>user\nHi!<|im_end|>\n<|im_start|>assistant\n',
  'text<|endoftext|>more <think>reasoning</think> done',
  '<|begin_of_text|><|start_header_id|>user<|end_header_id|>\n\nHello<|eot_id|>',
  'not special: <|im_start |> <| im_end|> <im_start>',
  '<|im_end|>\u0338 and \u0338<|im_start|>',
  // Control characters and odd punctuation
  '\u0000\u0001\u001f\u007f\u0085\u2028\u2029 ¿¡ «» “” ‘’ ‹› „',
  '~!@#$%^&*()_+`-=[]\\{}|;\':",./<>?',
  'URL: https://example.com/path?q=1&r=two#frag and email a.b@c.de',
];

function numbers(): string[] {
  const out: string[] = [];
  const rnd = prng(7);
  for (let len = 1; len <= 40; len++) {
    let s = '';
    for (let i = 0; i < len; i++) s += String(Math.floor(rnd() * 10));
    out.push(s, `x${s}y`, ` ${s} `, `${s}.${s}`);
  }
  return out;
}

function whitespace(): string[] {
  const pieces = [' ', '  ', '\t', '\n', '\r\n', '\u00a0', '\u3000', 'a', 'B', '1', '.', '好'];
  const rnd = prng(11);
  const out: string[] = [];
  for (let k = 0; k < 150; k++) {
    let s = '';
    const n = 1 + Math.floor(rnd() * 10);
    for (let i = 0; i < n; i++) s += pieces[Math.floor(rnd() * pieces.length)];
    out.push(s);
  }
  return out;
}

/** Random strings over all planes (no lone surrogates: both sides would replace them the same way). */
export function randomUnicode(seed: number, count: number, maxLen: number): string[] {
  const rnd = prng(seed);
  const out: string[] = [];
  const pick = (): number => {
    const r = rnd();
    if (r < 0.3) return 0x20 + Math.floor(rnd() * 0x60);
    if (r < 0.4) return [0x20, 0x0a, 0x09, 0x0d, 0xa0, 0x3000][Math.floor(rnd() * 6)] ?? 0x20;
    if (r < 0.55) return 0x80 + Math.floor(rnd() * 0x780);
    if (r < 0.8) return 0x800 + Math.floor(rnd() * (0xd800 - 0x800));
    if (r < 0.9) return 0xe000 + Math.floor(rnd() * 0x2000);
    return 0x10000 + Math.floor(rnd() * 0x100000);
  };
  for (let k = 0; k < count; k++) {
    const n = 1 + Math.floor(rnd() * maxLen);
    let s = '';
    for (let i = 0; i < n; i++) s += String.fromCodePoint(pick());
    out.push(s);
  }
  return out;
}

export const CORPUS: readonly string[] = [
  ...HANDWRITTEN,
  ...numbers(),
  ...whitespace(),
  ...randomUnicode(1, 300, 40),
];
