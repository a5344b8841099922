/**
 * Every keyword an ssh_config(5) line may start with: ssh(1) refuses a file with any other
 * ("Bad configuration option") unless `IgnoreUnknown` names it. The union of the clients operators
 * run, so no config their ssh accepts is refused here:
 * - OpenSSH's readconf.c keyword table, every release from 7.4 to 10.5 (a keyword dropped from use
 *   mostly stays in the table as deprecated or unsupported; 8.5's and 8.6's HostbasedAlgorithms did
 *   not; both #ifdef branches counted);
 * - Debian's and Ubuntu's patches (GSSAPI key exchange, the keepalive and timeout aliases, the
 *   blacklisted-keys check), which Fedora and RHEL share for GSSAPI;
 * - Apple's `UseKeychain`; Fedora's and RHEL 9's `RSAMinSize`; FreeBSD's and HPN-SSH's HPN and NONE
 *   options; Windows' OpenSSH `TunnelOptions`.
 * A keyword missing here refuses a config the operator's ssh accepts, so the list errs on the side
 * of knowing too much.
 */
export const SSH_KEYWORDS: ReadonlySet<string> = new Set([
  // OpenSSH
  'addkeystoagent', 'addressfamily', 'afstokenpassing', 'batchmode', 'bindaddress', 'bindinterface',
  'canonicaldomains', 'canonicalizefallbacklocal', 'canonicalizehostname', 'canonicalizemaxdots',
  'canonicalizepermittedcnames', 'casignaturealgorithms', 'certificatefile',
  'challengeresponseauthentication', 'channeltimeout', 'checkhostip', 'cipher', 'ciphers',
  'clearallforwardings', 'compression', 'compressionlevel', 'connectionattempts', 'connecttimeout',
  'controlmaster', 'controlpath', 'controlpersist', 'dsaauthentication', 'dynamicforward',
  'enableescapecommandline', 'enablesshkeysign', 'escapechar', 'exitonforwardfailure',
  'fallbacktorsh', 'fingerprinthash', 'forkafterauthentication', 'forwardagent', 'forwardx11',
  'forwardx11timeout', 'forwardx11trusted', 'gatewayports', 'globalknownhostsfile',
  'globalknownhostsfile2', 'gssapiauthentication', 'gssapidelegatecredentials', 'hashknownhosts',
  'host', 'hostbasedacceptedalgorithms', 'hostbasedalgorithms', 'hostbasedauthentication',
  'hostbasedkeytypes', 'hostkeyalgorithms', 'hostkeyalias', 'hostname', 'identitiesonly',
  'identityagent', 'identityfile', 'identityfile2', 'ignoreunknown', 'include', 'ipqos',
  'kbdinteractiveauthentication', 'kbdinteractivedevices', 'keepalive', 'kerberosauthentication',
  'kerberostgtpassing', 'kexalgorithms', 'knownhostscommand', 'localcommand', 'localforward',
  'loglevel', 'logverbose', 'macs', 'match', 'nohostauthenticationforlocalhost',
  'numberofpasswordprompts', 'obscurekeystroketiming', 'passwordauthentication',
  'permitlocalcommand', 'permitremoteopen', 'pkcs11provider', 'port', 'preferredauthentications',
  'protocol', 'proxycommand', 'proxyjump', 'proxyusefdpass', 'pubkeyacceptedalgorithms',
  'pubkeyacceptedkeytypes', 'pubkeyauthentication', 'refuseconnection', 'rekeylimit',
  'remotecommand', 'remoteforward', 'requesttty', 'requiredrsasize', 'revokedhostkeys',
  'rhostsauthentication', 'rhostsrsaauthentication', 'rsaauthentication', 'securitykeyprovider',
  'sendenv', 'serveralivecountmax', 'serveraliveinterval', 'sessiontype', 'setenv',
  'skeyauthentication', 'smartcarddevice', 'stdinnull', 'streamlocalbindmask',
  'streamlocalbindunlink', 'stricthostkeychecking', 'syslogfacility', 'tag', 'tcpkeepalive',
  'tisauthentication', 'tunnel', 'tunneldevice', 'updatehostkeys', 'useprivilegedport', 'user',
  'userknownhostsfile', 'userknownhostsfile2', 'useroaming', 'usersh', 'verifyhostkeydns',
  'versionaddendum', 'visualhostkey', 'warnweakcrypto', 'xauthlocation',
  // Debian, Ubuntu (and, for GSSAPI, Fedora and RHEL)
  'gssapiclientidentity', 'gssapikexalgorithms', 'gssapikeyexchange', 'gssapirenewalforcesrekey',
  'gssapiserveridentity', 'gssapitrustdns', 'protocolkeepalives', 'setuptimeout',
  'useblacklistedkeys',
  // Apple
  'usekeychain',
  // Fedora and RHEL 9's crypto policies (before OpenSSH's RequiredRSASize)
  'rsaminsize',
  // FreeBSD's base ssh and HPN-SSH builds (accepted, ignored), Windows' OpenSSH
  'hpnbuffersize', 'hpndisabled', 'noneenabled', 'noneswitch', 'tcprcvbuf', 'tcprcvbufpoll', 'tunneloptions',
]);
