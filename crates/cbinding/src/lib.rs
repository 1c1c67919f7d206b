//! Loading bindings written in C (shared objects implementing the binding
//! ABI version 4, 3, 2 or 1) and serving their APIs from the registry.
