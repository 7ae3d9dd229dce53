{#
    Data-quality expressions shared by the CDM flags and the generic tests.
#}

{#- True when the text matches a regular expression (whole-string match: anchor it). -#}
{% macro regexp_matches(expression, pattern) -%}
    {{ return(adapter.dispatch('regexp_matches', 'rcm')(expression, pattern)) }}
{%- endmacro %}

{% macro default__regexp_matches(expression, pattern) -%}
    regexp_like({{ expression }}, '{{ pattern }}')
{%- endmacro %}

{% macro duckdb__regexp_matches(expression, pattern) -%}
    regexp_matches({{ expression }}, '{{ pattern }}')
{%- endmacro %}

{% macro spark__regexp_matches(expression, pattern) -%}
    ({{ expression }} rlike '{{ pattern }}')
{%- endmacro %}

{#- T-SQL has no regular expressions: the anchored regex is translated at compile time into
    LIKE patterns (regex_like_patterns below), compared under a binary collation so that
    [A-Z] means upper case as it does in a regex. -#}
{% macro sqlserver__regexp_matches(expression, pattern) -%}
    {%- set conditions = [] -%}
    {%- set subject = "(" ~ expression ~ ") collate Latin1_General_100_BIN2" -%}
    {%- for alternative in rcm.regex_like_patterns(pattern) -%}
        {%- if alternative.like is not none -%}
            {%- do conditions.append(subject ~ " like '" ~ alternative.like | replace("'", "''") ~ "'") -%}
        {%- else -%}
            {%- set long_enough = "len(" ~ expression ~ ") >= " ~ alternative.min_length -%}
            {%- if alternative.excluded is none -%}
                {%- do conditions.append("(" ~ long_enough ~ ")") -%}
            {%- else -%}
                {%- set only_class = subject ~ " not like '%" ~ alternative.excluded | replace("'", "''") ~ "%'" -%}
                {%- do conditions.append("(" ~ long_enough ~ " and " ~ only_class ~ ")") -%}
            {%- endif -%}
        {%- endif -%}
    {%- endfor -%}
    ({{ conditions | join(' or ') }})
{%- endmacro %}

{% macro synapse__regexp_matches(expression, pattern) -%}
    {{ rcm.sqlserver__regexp_matches(expression, pattern) }}
{%- endmacro %}


{#- True when the text is one or more ASCII digits. -#}
{% macro is_all_digits(expression) -%}
    {{ return(adapter.dispatch('is_all_digits', 'rcm')(expression)) }}
{%- endmacro %}

{% macro default__is_all_digits(expression) -%}
    {{ rcm.regexp_matches(expression, '^[0-9]+$') }}
{%- endmacro %}

{% macro sqlserver__is_all_digits(expression) -%}
    ({{ expression }} <> '' and {{ expression }} not like '%[^0-9]%')
{%- endmacro %}

{% macro synapse__is_all_digits(expression) -%}
    {{ rcm.sqlserver__is_all_digits(expression) }}
{%- endmacro %}


{#- NPI check digit: Luhn over the prefix 80840 followed by the NPI's first 9 digits.
    The prefix contributes a constant 24 to the Luhn sum; from the right, the check digit
    (10th) is not doubled, the 9th, 7th, 5th, 3rd and 1st digits are. -#}
{% macro npi_check_digit_is_valid(npi) -%}
    case
        when {{ npi }} is null then {{ bool_false() }}
        when {{ dbt.length(npi) }} <> 10 then {{ bool_false() }}
        when not {{ is_all_digits(npi) }} then {{ bool_false() }}
        when (
            24
            {%- for position in range(1, 11) %}
            {%- set digit = "cast(substring(" ~ npi ~ ", " ~ position ~ ", 1) as " ~ dbt.type_int() ~ ")" %}
            {%- if position % 2 == 1 %}
            + case when {{ digit }} * 2 > 9 then {{ digit }} * 2 - 9 else {{ digit }} * 2 end
            {%- else %}
            + {{ digit }}
            {%- endif %}
            {%- endfor %}
        ) % 10 = 0 then {{ bool_true() }}
        else {{ bool_false() }}
    end
{%- endmacro %}


{#- An anchored regular expression (^...$) as T-SQL LIKE alternatives. Supported: one level of
    top-level alternation ^(a|b)$, character classes [..] / [^..], `.`, escaped and plain
    literals, quantifiers {n} {n,m} ? on any atom, and {n,} + * on a sequence of one class
    (`^[0-9]{10,}$`). Each alternative is {like: pattern} (matches the whole string) or
    {like: none, min_length: n, excluded: '[^0-9]'} (at least n characters, none outside the
    class; excluded none for `.`). Anything else is a compile error naming the regex, never a wrong test. -#}
{% macro regex_like_patterns(regex) -%}
    {%- set fail = "regex_like_patterns: cannot translate " ~ regex ~ " into T-SQL LIKE: " -%}
    {%- if not (regex.startswith('^') and regex.endswith('$')) -%}
        {{ exceptions.raise_compiler_error(fail ~ "anchor it with ^...$") }}
    {%- endif -%}
    {%- set body = regex[1:-1] -%}
    {%- if body.startswith('(') and body.endswith(')') and body[1:-1].find('(') < 0 and body[1:-1].find(')') < 0 -%}
        {%- set body = body[1:-1] -%}
    {%- endif -%}
    {#- split on | outside [...] -#}
    {%- set split = namespace(parts=[], current='', in_class=false) -%}
    {%- for char in body -%}
        {%- if char == '[' -%}{%- set split.in_class = true -%}{%- endif -%}
        {%- if char == ']' -%}{%- set split.in_class = false -%}{%- endif -%}
        {%- if char == '|' and not split.in_class -%}
            {%- do split.parts.append(split.current) -%}
            {%- set split.current = '' -%}
        {%- else -%}
            {%- set split.current = split.current ~ char -%}
        {%- endif -%}
    {%- endfor -%}
    {%- do split.parts.append(split.current) -%}
    {%- set alternatives = [] -%}
    {%- for part in split.parts -%}
        {#- atoms: (like token, min count, max count or none, is a class) -#}
        {%- set scan = namespace(i=0, atoms=[]) -%}
        {%- for _ in range(part | length) -%}
            {%- if scan.i < part | length -%}
                {%- set char = part[scan.i] -%}
                {%- if char == '[' -%}
                    {%- set close = part.find(']', scan.i + 1) -%}
                    {%- if close < 0 -%}{{ exceptions.raise_compiler_error(fail ~ "unclosed [") }}{%- endif -%}
                    {%- set token = part[scan.i:close + 1] -%}
                    {%- set is_class = true -%}
                    {%- set scan.i = close + 1 -%}
                {%- elif char == '.' -%}
                    {%- set token = '_' -%}
                    {%- set is_class = true -%}
                    {%- set scan.i = scan.i + 1 -%}
                {%- elif char in '()|^$+*?{}' -%}
                    {{ exceptions.raise_compiler_error(fail ~ "unsupported '" ~ char ~ "'") }}
                {%- else -%}
                    {%- if char == '\\' -%}
                        {%- set scan.i = scan.i + 1 -%}
                        {%- set char = part[scan.i] -%}
                    {%- endif -%}
                    {%- set token = '[' ~ char ~ ']' if char in '%_[' else char -%}
                    {%- set is_class = false -%}
                    {%- set scan.i = scan.i + 1 -%}
                {%- endif -%}
                {%- set quantifier = part[scan.i] if scan.i < part | length else '' -%}
                {%- if quantifier == '{' -%}
                    {%- set close = part.find('}', scan.i) -%}
                    {%- set bounds = part[scan.i + 1:close].split(',') -%}
                    {%- set low = bounds[0] | int -%}
                    {%- set high = low if bounds | length == 1 else (none if bounds[1] == '' else bounds[1] | int) -%}
                    {%- set scan.i = close + 1 -%}
                {%- elif quantifier in ['?', '+', '*'] -%}
                    {%- set low = 1 if quantifier == '+' else 0 -%}
                    {%- set high = 1 if quantifier == '?' else none -%}
                    {%- set scan.i = scan.i + 1 -%}
                {%- else -%}
                    {%- set low = 1 -%}
                    {%- set high = 1 -%}
                {%- endif -%}
                {%- do scan.atoms.append((token, low, high, is_class)) -%}
            {%- endif -%}
        {%- endfor -%}
        {%- set unbounded = scan.atoms | selectattr(2, 'none') | list -%}
        {%- if unbounded -%}
            {%- set atom = scan.atoms[0] -%}
            {%- if scan.atoms | length != 1 or not atom[3] -%}
                {{ exceptions.raise_compiler_error(fail ~ "an open-ended repeat must be the whole alternative, on one class") }}
            {%- endif -%}
            {%- if atom[0] == '_' -%}
                {%- set excluded = '' -%}
            {%- elif atom[0].startswith('[^') -%}
                {%- set excluded = '[' ~ atom[0][2:] -%}
            {%- else -%}
                {%- set excluded = '[^' ~ atom[0][1:] -%}
            {%- endif -%}
            {%- do alternatives.append({'like': none, 'min_length': atom[1], 'excluded': excluded or none}) -%}
        {%- else -%}
            {%- set expand = namespace(patterns=['']) -%}
            {%- for token, low, high, is_class in scan.atoms -%}
                {%- set grown = [] -%}
                {%- for prefix in expand.patterns -%}
                    {%- for count in range(low, high + 1) -%}
                        {%- do grown.append(prefix ~ token * count) -%}
                    {%- endfor -%}
                {%- endfor -%}
                {%- set expand.patterns = grown -%}
            {%- endfor -%}
            {%- if expand.patterns | length > 64 -%}
                {{ exceptions.raise_compiler_error(fail ~ "more than 64 LIKE patterns") }}
            {%- endif -%}
            {%- for like in expand.patterns -%}
                {%- do alternatives.append({'like': like, 'min_length': none, 'excluded': none}) -%}
            {%- endfor -%}
        {%- endif -%}
    {%- endfor -%}
    {{ return(alternatives) }}
{%- endmacro %}
