#!/bin/sh
# socksify.sh - run a program with its network traffic sent through a SOCKS5 proxy.
# Installed as the socksify command. Run, it only finds the launcher (built by make) and
# execs it, forking nothing: the launcher parses the options (see --help, README.md).
# Sourced ('. socksify on [OPTIONS]', '. socksify off'), it socksifies the current shell:
# it evals what 'launcher --shell-env on' prints, and never execs or exits (that would end
# the shell). The launcher is looked for next to $SOCKSIFY_LIB, next to this script, in
# build/, in ../lib/socksify; then the same after following this script's symlinks.
_socksify_find() { # directory of this script, this script; sets _socksify_launcher
	for _socksify_d in ${SOCKSIFY_LIB:+"${SOCKSIFY_LIB%/*}"} "$1" "$1/build" "$1/../lib/socksify"; do
		_socksify_launcher=$_socksify_d/socksify
		[ -f "$_socksify_launcher" ] && [ -x "$_socksify_launcher" ] && ! [ "$_socksify_launcher" -ef "$2" ] &&
			return 0
	done
	return 1
}

# Sourced or run? bash and zsh say so (and where this file is); other shells keep their
# own $0 when sourcing (dash passes '.' no arguments either: 'set -- on ...; . socksify'),
# so a $0 that is not this script (its second line, read without a fork) means sourced.
_socksify_self=
if [ -n "${BASH_VERSION-}" ]; then
	eval '[ "${BASH_SOURCE[0]}" != "$0" ] && _socksify_self=${BASH_SOURCE[0]}'
elif [ -n "${ZSH_VERSION-}" ]; then
	eval 'case ${ZSH_EVAL_CONTEXT-} in *file*) _socksify_self=${(%):-%x} ;; esac'
else
	_socksify_self=.
	if [ -f "$0" ] && { read -r _socksify_d && read -r _socksify_d; } <"$0" 2>/dev/null; then
		case $_socksify_d in "# socksify.sh - run a program "*) _socksify_self= ;; esac
	fi
fi

if [ -z "$_socksify_self" ]; then
	unset _socksify_self
	case ${1-} in
	on | off)
		echo "socksify: source it: . socksify $1" >&2
		exit 2
		;;
	esac
	case $0 in
	*/*) _socksify_find "${0%/*}" "$0" && exec "$_socksify_launcher" "$@" ;;
	*) _socksify_find . "$0" && exec "$_socksify_launcher" "$@" ;;
	esac
	self=$(readlink -f -- "$0") && _socksify_find "${self%/*}" "$0" && exec "$_socksify_launcher" "$@"
	echo "socksify: cannot find the launcher 'socksify' next to $0 (run 'make' first?)" >&2
	exit 2
fi

# Sourced: where this file is (the one '.' found on PATH, when the shell does not say).
_socksify_main() {
	case ${1-} in
	on)
		if [ -n "${_socksify_off+x}" ]; then
			echo "socksify: this shell is socksified already ('. socksify off' first)" >&2
			return 1
		fi
		if [ "$_socksify_self" = . ]; then
			_socksify_p=$PATH:
			while [ -n "$_socksify_p" ]; do
				_socksify_d=${_socksify_p%%:*}
				_socksify_p=${_socksify_p#*:}
				[ -f "${_socksify_d:-.}/socksify" ] && _socksify_self=${_socksify_d:-.}/socksify && break
			done
		fi
		_socksify_real=$(readlink -f -- "$_socksify_self" 2>/dev/null) || _socksify_real=$_socksify_self
		if ! _socksify_find "${_socksify_self%/*}" "$_socksify_self" &&
			! _socksify_find "${_socksify_real%/*}" "$_socksify_real" && ! _socksify_find . "$_socksify_self"; then
			echo "socksify: cannot find the launcher 'socksify' (run 'make' first?)" >&2
			return 2
		fi
		shift
		_socksify_out=$("$_socksify_launcher" --shell-env "$@" on) || return 2
		eval "$_socksify_out"
		;;
	off)
		if [ -z "${_socksify_off+x}" ]; then
			echo "socksify: this shell is not socksified" >&2
			return 1
		fi
		eval "$_socksify_off"
		unset _socksify_off
		;;
	status)
		if [ -n "${_socksify_off+x}" ]; then echo "socksify: on"; else echo "socksify: off"; fi
		;;
	*)
		echo "socksify: sourced, it takes on [OPTIONS], off or status: . socksify on -x socks5://host:port" >&2
		return 2
		;;
	esac
}
_socksify_main "$@"
_socksify_rc=$?
unset _socksify_self _socksify_real _socksify_d _socksify_p _socksify_launcher _socksify_out
unset -f _socksify_find _socksify_main
eval "unset _socksify_rc; return $_socksify_rc"
