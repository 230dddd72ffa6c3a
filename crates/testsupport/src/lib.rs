//! What Ferret's tests share, as a dev-dependency: image builders (`image`), registry
//! processes (`registry`), RPM distro roots with a real rpm database (`rpm`), validators we did not write (`validators`), inputs built by the
//! ecosystems' own tools (`toolchains`), the Debian example (`fixtures`), the `ferret`
//! binary (`cli`), a running hub (`service`) and the queue's fault and load harness
//! (`queue`). Tests `use ferret_testsupport::*`.

// Helpers hold processes, closures and sockets; their tests never print them.
#![allow(missing_debug_implementations)]

mod cli;
mod fixtures;
mod image;
pub mod queue;
mod registry;
mod rpm;
pub mod service;
mod toolchains;
mod validators;

pub use cli::*;
pub use fixtures::*;
pub use image::*;
pub use registry::*;
pub use rpm::*;
pub use toolchains::*;
pub use validators::*;
