//! Where per-user state lives, and how the engine's settings, model and LLM
//! are loaded: the same helpers `cm_server::launch` starts the engine with,
//! so every command sees what `serve` and the tray app see.

pub use cm_server::launch::{
    Workload, attach_llm, embed_config, embed_config_for, home, load_config, load_embedder, registry,
};
