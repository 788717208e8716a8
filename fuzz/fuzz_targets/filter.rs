//! The filter and order-by grammar of `whet runs`, the server's searches and the registry,
//! for every entity searched.
#![no_main]

use libfuzzer_sys::fuzz_target;
use whet_fuzz::track::filter::{Entity, OrderBy, parse, parse_for};

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    let _ = parse(text);
    let _ = OrderBy::parse(text);
    for entity in ENTITIES {
        let _ = parse_for(text, entity);
        let _ = OrderBy::parse_for(text, entity);
    }
});

const ENTITIES: [Entity; 5] = [
    Entity::Runs,
    Entity::Experiments,
    Entity::RegisteredModels,
    Entity::ModelVersions,
    Entity::LoggedModels,
];
