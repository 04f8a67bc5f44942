//! Configuration: the TOML file of SPEC §2, parsed with every error located (placeholder).
