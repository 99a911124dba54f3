//! What the module asks of its JavaScript host: Unicode normalization, which V8's ICU already does
//! well (the module keeps a quick check, so ASCII- and most CJK text never calls out).

use crate::tokenizer::Form;

#[cfg(target_arch = "wasm32")]
mod imports {
    #[link(wasm_import_module = "env")]
    extern "C" {
        /// Normalizes UTF-8 `len` bytes at `ptr` to `form`; writes the result to `out` and returns its
        /// length if it fits in `cap` bytes, else returns minus the length it needs.
        pub fn host_normalize(form: u32, ptr: *const u8, len: usize, out: *mut u8, cap: usize) -> isize;
    }
}

#[cfg(target_arch = "wasm32")]
pub fn normalize(form: Form, s: &[u8]) -> Result<Vec<u8>, String> {
    let mut cap = s.len() * 3 + 16;
    loop {
        let mut out = vec![0u8; cap];
        let n = unsafe { imports::host_normalize(form as u32, s.as_ptr(), s.len(), out.as_mut_ptr(), cap) };
        if n >= 0 {
            out.truncate(n as usize);
            return Ok(out);
        }
        let need = n.unsigned_abs();
        if need <= cap {
            return Err("host_normalize: inconsistent result".into());
        }
        cap = need;
    }
}

#[cfg(not(target_arch = "wasm32"))]
pub fn normalize(_form: Form, _s: &[u8]) -> Result<Vec<u8>, String> {
    Err("Unicode normalization needs the JavaScript host".into())
}
