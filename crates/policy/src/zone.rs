//! The debtor's time zone: the country's, or the city's where the country spans several (Mexico, the United States,
//! Brazil). An unknown city falls back to the country's most populous zone.

use chrono_tz::Tz;
use recaudo_domain::text::fold_key;
use recaudo_domain::Country;

/// Cities (folded: no accents, case or spaces) whose zone differs from their country's default.
const CITIES: &[(Country, &str, Tz)] = &[
    (Country::Mexico, "tijuana", chrono_tz::America::Tijuana),
    (Country::Mexico, "mexicali", chrono_tz::America::Tijuana),
    (Country::Mexico, "ensenada", chrono_tz::America::Tijuana),
    (Country::Mexico, "hermosillo", chrono_tz::America::Hermosillo),
    (Country::Mexico, "chihuahua", chrono_tz::America::Chihuahua),
    (Country::Mexico, "ciudadjuarez", chrono_tz::America::Ciudad_Juarez),
    (Country::Mexico, "culiacan", chrono_tz::America::Mazatlan),
    (Country::Mexico, "mazatlan", chrono_tz::America::Mazatlan),
    (Country::Mexico, "lapaz", chrono_tz::America::Mazatlan),
    (Country::Mexico, "cancun", chrono_tz::America::Cancun),
    (Country::Mexico, "chetumal", chrono_tz::America::Cancun),
    (Country::Mexico, "playadelcarmen", chrono_tz::America::Cancun),
    (Country::Mexico, "monterrey", chrono_tz::America::Monterrey),
    (Country::Mexico, "matamoros", chrono_tz::America::Matamoros),
    (Country::UnitedStates, "chicago", chrono_tz::America::Chicago),
    (Country::UnitedStates, "houston", chrono_tz::America::Chicago),
    (Country::UnitedStates, "dallas", chrono_tz::America::Chicago),
    (Country::UnitedStates, "sanantonio", chrono_tz::America::Chicago),
    (Country::UnitedStates, "denver", chrono_tz::America::Denver),
    (Country::UnitedStates, "phoenix", chrono_tz::America::Phoenix),
    (Country::UnitedStates, "losangeles", chrono_tz::America::Los_Angeles),
    (Country::UnitedStates, "sanfrancisco", chrono_tz::America::Los_Angeles),
    (Country::UnitedStates, "sandiego", chrono_tz::America::Los_Angeles),
    (Country::UnitedStates, "seattle", chrono_tz::America::Los_Angeles),
    (Country::UnitedStates, "lasvegas", chrono_tz::America::Los_Angeles),
    (Country::UnitedStates, "anchorage", chrono_tz::America::Anchorage),
    (Country::UnitedStates, "honolulu", chrono_tz::Pacific::Honolulu),
    (Country::Brazil, "manaus", chrono_tz::America::Manaus),
    (Country::Brazil, "cuiaba", chrono_tz::America::Cuiaba),
    (Country::Brazil, "portovelho", chrono_tz::America::Porto_Velho),
    (Country::Brazil, "riobranco", chrono_tz::America::Rio_Branco),
    (Country::Brazil, "boavista", chrono_tz::America::Boa_Vista),
    (Country::Brazil, "campogrande", chrono_tz::America::Campo_Grande),
    (Country::Brazil, "belem", chrono_tz::America::Belem),
    (Country::Brazil, "fortaleza", chrono_tz::America::Fortaleza),
    (Country::Brazil, "recife", chrono_tz::America::Recife),
    (Country::Brazil, "salvador", chrono_tz::America::Bahia),
    (Country::Brazil, "maceio", chrono_tz::America::Maceio),
    (Country::Brazil, "fernandodenoronha", chrono_tz::America::Noronha),
];

/// The zone of a debtor in `city` of `country`.
pub fn time_zone(country: Country, city: &str) -> Tz {
    let key = fold_key(city);
    CITIES
        .iter()
        .find(|(c, name, _)| *c == country && *name == key)
        .map(|(_, _, tz)| *tz)
        .unwrap_or(country.time_zone())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cities_pick_the_zone_where_a_country_has_several() {
        assert_eq!(time_zone(Country::Mexico, "Tijuana"), chrono_tz::America::Tijuana);
        assert_eq!(time_zone(Country::Mexico, "Cancún"), chrono_tz::America::Cancun);
        assert_eq!(time_zone(Country::Mexico, "Guadalajara"), chrono_tz::America::Mexico_City);
        assert_eq!(time_zone(Country::UnitedStates, "Los Angeles"), chrono_tz::America::Los_Angeles);
        assert_eq!(time_zone(Country::Brazil, "Manaus"), chrono_tz::America::Manaus);
        assert_eq!(time_zone(Country::Colombia, "Tijuana"), chrono_tz::America::Bogota);
    }
}
