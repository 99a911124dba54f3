//! What the module asks of its JavaScript host: Unicode normalization, which V8's ICU already does
//! well (the module keeps a quick check, so ASCII- and most CJK text never calls out).

use crate::tokenizer::Form;

#[cfg(target_arch = "wasm32")]
mod imports {
    use wasm_bindgen::prelude::wasm_bindgen;

    // A wasm-bindgen import, so the generated glue supplies it to whoever instantiates the package.
    #[wasm_bindgen(inline_js = "export function host_normalize(s, form) { return s.normalize(form); }")]
    extern "C" {
        pub fn host_normalize(s: &str, form: &str) -> String;
    }
}

#[cfg(target_arch = "wasm32")]
pub fn normalize(form: Form, s: &[u8]) -> Result<Vec<u8>, String> {
    let s = std::str::from_utf8(s).map_err(|_| "host_normalize: invalid UTF-8".to_string())?;
    let form = match form {
        Form::Nfc => "NFC",
        Form::Nfd => "NFD",
        Form::Nfkc => "NFKC",
        Form::Nfkd => "NFKD",
    };
    Ok(imports::host_normalize(s, form).into_bytes())
}

#[cfg(not(target_arch = "wasm32"))]
pub fn normalize(_form: Form, _s: &[u8]) -> Result<Vec<u8>, String> {
    Err("Unicode normalization needs the JavaScript host".into())
}
