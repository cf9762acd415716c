//! A labelled range slider over a fixed list of values (linear or stepped by hand), keyboard
//! accessible as any `<input type="range">`: arrows, Page Up/Down, Home and End. Screen readers
//! hear the formatted value through `aria-valuetext`.

use leptos::prelude::*;

/// One slider. It shows `value` snapped to the nearest of `choices` and reports picks through
/// `on_pick`.
// The props builder `#[component]` derives is `pub` inside this crate-private type.
#[allow(unreachable_pub)]
#[component]
pub(crate) fn ChoiceSlider(
    /// The input's `id`, tying the label to it.
    id: &'static str,
    /// The visible label.
    label: &'static str,
    /// One sentence on what the knob changes, shown under it.
    hint: &'static str,
    /// The values it offers, ascending; at least one.
    choices: &'static [u64],
    /// How a value reads, e.g. `1.5 ms`.
    format: fn(u64) -> String,
    /// The value now.
    #[prop(into)]
    value: Signal<u64>,
    /// Called with the value picked.
    on_pick: Callback<u64>,
) -> impl IntoView {
    let index = move || nearest_index(choices, value.get());
    let shown = move || format(value.get());
    let max_index = choices.len().saturating_sub(1);
    let hint_id = format!("{id}-hint");
    view! {
        <div class="wd-slider">
            <div class="wd-slider-head">
                <label for=id>{label}</label>
                <output for=id class="wd-slider-value">
                    {shown}
                </output>
            </div>
            <input
                type="range"
                id=id
                min="0"
                max=max_index.to_string()
                step="1"
                prop:value=move || index().to_string()
                aria-valuetext=shown
                aria-describedby=hint_id.clone()
                on:input=move |ev| {
                    if let Some(&picked) = event_target_value(&ev)
                        .parse::<usize>()
                        .ok()
                        .and_then(|at| choices.get(at))
                    {
                        on_pick.run(picked);
                    }
                }
            />
            <p class="wd-slider-hint muted" id=hint_id>
                {hint}
            </p>
        </div>
    }
}

/// The index of the choice closest to `value` (the first on a tie).
pub(crate) fn nearest_index(choices: &[u64], value: u64) -> usize {
    choices
        .iter()
        .enumerate()
        .min_by_key(|(_, &choice)| choice.abs_diff(value))
        .map_or(0, |(index, _)| index)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn nearest_index_snaps_to_the_closest_choice() {
        let choices = [0, 10, 100, 1000];
        assert_eq!(nearest_index(&choices, 0), 0);
        assert_eq!(nearest_index(&choices, 12), 1);
        assert_eq!(nearest_index(&choices, 600), 3);
        assert_eq!(nearest_index(&choices, 5_000), 3);
        assert_eq!(nearest_index(&[], 5), 0);
    }
}
