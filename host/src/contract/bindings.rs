//! Host-side bindings of the plugin contract. This module holds only the `bindgen!`
//! call: `plugin-sdk/wit/` is the one contract, never copied.

wasmtime::component::bindgen!({
    world: "vigil-plugin",
    path: "../plugin-sdk/wit",
    imports: { default: trappable },
    additional_derives: [serde::Serialize, serde::Deserialize, Clone],
});
