{{ config(enabled=target.type == 'duckdb') }}

-- to_money reads the source's amount text as a decimal (macros/cleaning): half a cent rounds
-- away from zero, as a finance office rounds, where a double rounded 0.285 (held as
-- 0.28499999999999998) down to 0.28. Float noise still rounds to the cent; blank and 'null'
-- text is no amount. Each row is a case the macro gets wrong.
with

cases as (
    select
        unnest([
            '0.285', '1.005', '-0.005', '2.675', '150.00000000001', '149.99999999999',
            ' 12.5 ', '7', 'null', ''
        ]) as amount_text,
        unnest([
            '0.29', '1.01', '-0.01', '2.68', '150.00', '150.00', '12.50', '7.00', null, null
        ]) as expected_text
)

select amount_text, expected_text, {{ to_money('amount_text') }} as money
from cases
where {{ to_money('amount_text') }} is distinct from cast(expected_text as {{ type_money() }})
