//! Language ecosystems inside images: installed packages and lockfiles.

pub(crate) mod binary;
pub(crate) mod gosym;
pub(crate) mod java;
pub(crate) mod node;
pub(crate) mod python;
pub(crate) mod simple;
