"""Gets an access token from an authmesh gateway's HTTPS token endpoint with Authlib.

Uses authlib.integrations.requests_client.OAuth2Session and the client credentials grant, with
client_secret_post, client_secret_basic or private_key_jwt (RFC 7523, Authlib's PrivateKeyJWT).
Prints the token response as one JSON object; an OAuth error prints {"error": ..., "status": ...}
and exits with 1.
"""

import argparse
import json
import sys

from authlib.integrations.requests_client import OAuth2Session, OAuthError
from authlib.oauth2.rfc7523 import PrivateKeyJWT


def parse_args():
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument('--token-url', required=True, help='https://<gateway>/<tenant>/oauth2/v2.0/token')
    p.add_argument('--client-id', required=True)
    p.add_argument('--scope', required=True, help='<resource>/.default')
    p.add_argument('--auth', choices=['client_secret_post', 'client_secret_basic', 'private_key_jwt'], required=True)
    p.add_argument('--client-secret-file', help='file holding the client secret (client_secret_*)')
    p.add_argument('--private-key', help='PEM private key, EC P-256 or RSA (private_key_jwt)')
    p.add_argument('--ca-file', help='CA bundle that verifies the gateway (default: the system store)')
    args = p.parse_args()
    if args.auth == 'private_key_jwt' and not args.private_key:
        p.error('private_key_jwt needs --private-key')
    if args.auth != 'private_key_jwt' and not args.client_secret_file:
        p.error(f'{args.auth} needs --client-secret-file')
    return args


def session_for(args):
    if args.auth == 'private_key_jwt':
        key = open(args.private_key).read()
        alg = 'RS256' if _is_rsa(key) else 'ES256'
        session = OAuth2Session(args.client_id, key, token_endpoint_auth_method='private_key_jwt', scope=args.scope)
        session.register_client_auth_method(PrivateKeyJWT(args.token_url, alg=alg))
    else:
        secret = open(args.client_secret_file).read().strip()
        session = OAuth2Session(args.client_id, secret, token_endpoint_auth_method=args.auth, scope=args.scope)
    return session


def _is_rsa(pem):
    from cryptography.hazmat.primitives.asymmetric import rsa
    from cryptography.hazmat.primitives.serialization import load_pem_private_key

    return isinstance(load_pem_private_key(pem.encode(), password=None), rsa.RSAPrivateKey)


def main():
    args = parse_args()
    session = session_for(args)
    try:
        # verify= per request: a session-wide verify would yield to REQUESTS_CA_BUNDLE.
        verify = args.ca_file or True
        token = session.fetch_token(args.token_url, grant_type='client_credentials', timeout=10, verify=verify)
    except OAuthError as e:
        print(json.dumps({'error': e.error, 'error_description': e.description}))
        return 1
    finally:
        session.close()
    print(json.dumps(dict(token)))
    return 0


if __name__ == '__main__':
    sys.exit(main())
