//! Built against `vigil:plugin@0.0.9`: the host must refuse it, naming both versions.
wit_bindgen::generate!({ world: "old-plugin", path: "wit" });

struct Old;

impl exports::vigil::plugin::plugin::Guest for Old {
    fn manifest() -> String {
        "old".into()
    }
}

export!(Old);
