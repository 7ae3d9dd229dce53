-- to_money reads the source's amount text as a decimal (macros/cleaning): half a cent rounds
-- away from zero, as a finance office rounds, where a double rounded 0.285 (held as
-- 0.28499999999999998) down to 0.28. Float noise still rounds to the cent, text with an
-- exponent (an EMR float's text near zero) reads, and blank and 'null' text is no amount.
-- On every engine: each row is a case the macro gets wrong.
with

cases as (
    select '0.285' as amount_text, '0.29' as expected_text
    union all
    select '1.005' as amount_text, '1.01' as expected_text
    union all
    select '-0.005' as amount_text, '-0.01' as expected_text
    union all
    select '2.675' as amount_text, '2.68' as expected_text
    union all
    select '150.00000000001' as amount_text, '150.00' as expected_text
    union all
    select '149.99999999999' as amount_text, '150.00' as expected_text
    union all
    select ' 12.5 ' as amount_text, '12.50' as expected_text
    union all
    select '7' as amount_text, '7.00' as expected_text
    union all
    select '1.5e2' as amount_text, '150.00' as expected_text
    union all
    select '5.551115123125783e-17' as amount_text, '0.00' as expected_text
    union all
    select 'null' as amount_text, null as expected_text
    union all
    select '' as amount_text, null as expected_text
),

converted as (
    select
        amount_text,
        cast(expected_text as {{ type_money() }}) as expected_money,
        {{ to_money('amount_text') }} as money
    from cases
)

select *
from converted
where
    (money is null and expected_money is not null)
    or (money is not null and expected_money is null)
    or money <> expected_money
